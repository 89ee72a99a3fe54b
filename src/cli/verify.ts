// `tenant-isolation verify`: reachability of a live cluster (kubeconfig) or of a directory of manifests.
// Prints the tenant x tenant matrix (or with --pods the pod x pod one) of allowed paths on a port,
// breaches and pods no policy selects; exits 1 when a breach exists, so CI can gate on it. -o html, dot
// and svg draw the same facts; `verify diff` and `verify explain` are subcommands (verify-diff.ts,
// verify-explain.ts).
import { parseArgs } from 'node:util';
import { NON_TENANT, type Breach } from '../analysis/analyzer.ts';
import { buildReport } from '../report/report.ts';
import { renderHtml } from '../report/html.ts';
import { dotToSvg, renderDot } from '../report/dot.ts';
import { analyzerOf, checkTenantNames, loadInputs, parsePort, parseProtocol } from './verify-inputs.ts';
import { diffCommand } from './verify-diff.ts';
import { explainCommand } from './verify-explain.ts';
import { compareStrings } from '../policy/order.ts';

export const VERIFY_HELP = `Usage: tenant-isolation verify [--kubeconfig PATH | -f FILE|DIR ...] [--pods] [--port N] [--protocol P] [-o text|json|html|dot|svg]
       tenant-isolation verify diff -f OLD -f NEW | --kubeconfig PATH -f NEW   (see: verify diff --help)
       tenant-isolation verify explain SRC DST --port N                        (see: verify explain --help)

Analyses which connections the cluster's NetworkPolicies allow (full networking.k8s.io/v1 semantics) and
proves each TenantIsolation: an undeclared path into or out of a tenant's pods is a breach.
Sources: the cluster of --kubeconfig (default: $KUBECONFIG, then in-cluster, then ~/.kube/config), or manifests
(-f; Namespaces, Pods, NetworkPolicies, TenantIsolations, IsolationProfiles, an IsolationBaseline; pod IPs
from status.podIP(s)). Tenants are proved with their effective spec (profiles applied). With a baseline,
it also lists the namespaces it isolates (or would, in Audit mode), the pods no policy selects there and,
in Enforce mode, covered namespaces missing its policies.
  --pods            pod x pod matrix instead of tenant x tenant
  --port N          port of the matrix (default 80); breaches cover every port
  --protocol P      TCP (default), UDP or SCTP
  -t, --tenant T    only these tenants' breaches count (repeatable)
  -o json           machine-readable; with --pods exactly {"pods": [...], "allowed": [["ns/src","ns/dst"], ...]}
  -o html           one self-contained page: the tenant matrix as a colour grid, breaches, unselected pods,
                    the pod matrix on request (no network access needed to open it)
  -o dot, -o svg    namespaces grouped by tenant and the allowed edges on the port (svg needs Graphviz's dot)
Exit status: 0 no breach, 1 a breach exists, 2 bad input.`;

const OUTPUTS = ['text', 'json', 'html', 'dot', 'svg'] as const;

function table(labels: string[], cell: (r: string, c: string) => string): string {
  const w = Math.max(8, ...labels.map((l) => l.length));
  const head = `${'from \\ to'.padEnd(w)}  ${labels.map((l) => l.padStart(Math.max(l.length, 3))).join('  ')}`;
  return [head, ...labels.map((r) => `${r.padEnd(w)}  ${labels.map((c) => cell(r, c).padStart(Math.max(c.length, 3))).join('  ')}`)].join('\n');
}

/** Exit status 0 no breach, 1 a breach; bad input is 2 so that it never reads as "a breach exists". */
export async function verifyCommand(argv: string[]): Promise<number> {
  try {
    if (argv[0] === 'diff') return await diffCommand(argv.slice(1));
    if (argv[0] === 'explain') return await explainCommand(argv.slice(1));
    return await verify(argv);
  } catch (err) {
    process.stderr.write(`tenant-isolation: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
}

async function verify(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    kubeconfig: { type: 'string' }, filename: { type: 'string', short: 'f', multiple: true },
    pods: { type: 'boolean' }, port: { type: 'string', default: '80' }, protocol: { type: 'string', default: 'TCP' },
    output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' },
    tenant: { type: 'string', short: 't', multiple: true },
  } });
  if (values.help) { process.stdout.write(`${VERIFY_HELP}\n`); return 0; }
  const port = parsePort(values.port);
  const protocol = parseProtocol(values.protocol);
  const output = values.output as typeof OUTPUTS[number];
  if (!OUTPUTS.includes(output)) throw new Error(`-o: must be one of ${OUTPUTS.join(', ')}, not ${values.output}`);
  if (values.pods && !['text', 'json'].includes(output)) throw new Error(`--pods: only with -o text or json (the html page has the pod matrix on request)`);
  const files = [...(values.filename ?? []), ...positionals];
  const inputs = await loadInputs(files, values.kubeconfig);
  for (const s of inputs.skipped) process.stderr.write(`warning: TenantIsolation ${s.tenant} has an invalid spec (${s.error}): not analysed; the operator leaves what it holds there as it is until the spec is fixed\n`);
  const analyzer = analyzerOf(inputs);
  const only = values.tenant;
  checkTenantNames(only, inputs);
  const breaches: Breach[] = [...analyzer.allBreaches()].filter(([t]) => !only || only.includes(t)).flatMap(([, b]) => b);
  const code = breaches.length > 0 ? 1 : 0;

  if (output === 'html' || output === 'dot' || output === 'svg') {
    const report = buildReport(analyzer, inputs.snapshot, { source: files.length > 0 ? files.join(', ') : 'cluster', port, protocol, breaches });
    const page = output === 'html' ? renderHtml(report) : output === 'dot' ? renderDot(report) : await dotToSvg(renderDot(report));
    process.stdout.write(page);
    return code;
  }
  if (values.pods) {
    const pods = inputs.snapshot.pods.map((p) => `${p.namespace}/${p.name}`).sort();
    const allowed = analyzer.allowedPairs(port, protocol).sort((a, b) => compareStrings(a[0], b[0]) || compareStrings(a[1], b[1]));
    if (output === 'json') { process.stdout.write(`${JSON.stringify({ pods, allowed })}\n`); return code; }
    const set = new Set(allowed.map(([s, d]) => `${s}\n${d}`));
    process.stdout.write(`Allowed connections on ${protocol}/${port} (row = source, column = destination):\n`);
    process.stdout.write(`${table(pods, (r, c) => (r === c ? '-' : set.has(`${r}\n${c}`) ? 'yes' : '.'))}\n`);
    return code;
  }
  const matrix = analyzer.tenantMatrix(port, protocol);
  const unselected = analyzer.podsSelectedByNoPolicy();
  const b = inputs.baseline;
  const baseline = b && { ...b, unselectedPods: unselected.filter((p) => b.namespaces.includes(p.slice(0, p.indexOf('/')))) };
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify({ port, protocol, tenants: matrix.tenants, matrix: matrix.counts, breaches, podsSelectedByNoPolicy: unselected, skipped: inputs.skipped, ...(inputs.gate ? { admissionGate: inputs.gate } : {}), ...(baseline ? { baseline } : {}) })}\n`);
    return code;
  }
  const out: string[] = [];
  out.push(`Allowed pod-to-pod connections between tenants on ${protocol}/${port} (row = source, column = destination; "${NON_TENANT}" = namespaces of no tenant):`);
  out.push(table(matrix.tenants, (r, c) => String(matrix.counts[r]?.[c] ?? 0)));
  out.push('');
  out.push(breaches.length === 0 ? 'Breaches: none. Every tenant is isolated: only declared allows, DNS and intra-tenant traffic.' : `Breaches (${breaches.length}):`);
  for (const b of breaches) out.push(`  [${b.tenant}] ${b.message}`);
  out.push('');
  out.push(unselected.length === 0 ? 'Pods no NetworkPolicy selects for ingress: none.' : `Pods no NetworkPolicy selects for ingress (${unselected.length}):`);
  for (const p of unselected) out.push(`  ${p}`);
  if (inputs.gate && 'missing' in inputs.gate) {
    out.push('');
    out.push(inputs.gate.missing.length === 0 ? 'Admission gate: complete (pods in tenant namespaces wait for isolation; managed policies and membership labels are guarded).' : `Admission gate: incomplete (${inputs.gate.missing.length}):`);
    for (const m of inputs.gate.missing) out.push(`  ${m}`);
  } else if (inputs.gate) {
    out.push('', `Admission gate: unknown (${inputs.gate.unknown})`);
  }
  if (baseline) {
    const ns = baseline.namespaces;
    const names = `${ns.slice(0, 20).join(', ')}${ns.length > 20 ? ', ...' : ''}`;
    out.push('');
    out.push(baseline.mode === 'Audit'
      ? `Baseline (Audit): Enforce would isolate ${ns.length} namespace(s) no tenant isolates${ns.length > 0 ? `: ${names}` : ''}.`
      : `Baseline (Enforce): isolates ${ns.length} namespace(s) no tenant isolates${ns.length > 0 ? `: ${names}` : ''}.`);
    if (baseline.missing.length > 0) out.push(`  Missing its policies (${baseline.missing.length}):`, ...baseline.missing.map((m) => `    ${m}`));
    out.push(baseline.unselectedPods.length === 0 ? '  Pods there that no NetworkPolicy selects: none.' : `  Pods there that no NetworkPolicy selects (${baseline.unselectedPods.length}):`);
    for (const p of baseline.unselectedPods) out.push(`    ${p}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  return code;
}
