// `tenant-isolation verify explain SRC DST --port P`: why one connection is allowed or denied, naming
// every policy that isolates each side and every rule that admits or would admit it.
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { explain, type SideExplanation } from '../analysis/explain.ts';
import type { Endpoint } from '../analysis/types.ts';
import { NON_TENANT } from '../analysis/analyzer.ts';
import { analyzerOf, loadInputs, parsePort, parseProtocol, type Inputs } from './verify-inputs.ts';

export const EXPLAIN_HELP = `Usage: tenant-isolation verify explain SRC DST --port N [--protocol P] [--kubeconfig PATH | -f FILE|DIR ...] [-o text|json]

Explains one connection: SRC and DST are pods ("namespace/name") or addresses outside the cluster (an IP).
For the source's egress and the destination's ingress it names every policy that isolates the pod and
every rule whose peer matches the other end: the rules that admit the connection, and those that would
admit it on other ports. Sources as for verify (the cluster, or manifests with -f).
Exit status: 0 allowed, 1 denied, 2 bad input.`;

function endpoint(arg: string, what: string, i: Inputs): Endpoint {
  if (isIP(arg)) return { external: arg };
  const slash = arg.indexOf('/');
  if (slash <= 0) throw new Error(`${what}: must be namespace/pod or an IP address, not '${arg}'`);
  const pod = i.snapshot.pods.find((p) => p.namespace === arg.slice(0, slash) && p.name === arg.slice(slash + 1));
  if (!pod) throw new Error(`${what}: no pod ${arg} in the ${i.snapshot.pods.length} pods of the input`);
  return pod;
}

function sideText(s: SideExplanation, peer: string): string[] {
  const head = `${s.direction} of ${s.endpoint}: ${s.allowed ? 'allows' : 'DENIES'} (${s.reason})`;
  if (!s.isolated) return [head];
  const out = [head, `  isolated by: ${s.isolatingPolicies.join(', ')}`];
  if (s.rules.length === 0) out.push(`  no rule of these policies matches ${peer}`);
  else out.push(`  rules matching ${peer}:`);
  for (const r of s.rules) {
    out.push(`    ${r.admits ? 'admits     ' : 'would admit'}  ${r.policy} ${s.direction} rule ${r.rule} (${r.peers === 'any' ? 'any peer' : 'peer matches'}; ${r.ports})`);
  }
  return out;
}

export async function explainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    kubeconfig: { type: 'string' }, filename: { type: 'string', short: 'f', multiple: true },
    port: { type: 'string' }, protocol: { type: 'string', default: 'TCP' },
    output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' },
  } });
  if (values.help) { process.stdout.write(`${EXPLAIN_HELP}\n`); return 0; }
  if (positionals.length !== 2) throw new Error(`verify explain: needs SRC and DST (namespace/pod or an IP address), got ${positionals.length} argument(s)`);
  if (values.port === undefined) throw new Error('--port: required (the connection\'s destination port)');
  const port = parsePort(values.port);
  const protocol = parseProtocol(values.protocol);
  if (values.output !== 'text' && values.output !== 'json') throw new Error(`-o: must be text or json, not ${values.output}`);
  const inputs = await loadInputs(values.filename ?? [], values.kubeconfig);
  const [src, dst] = [endpoint(positionals[0]!, 'SRC', inputs), endpoint(positionals[1]!, 'DST', inputs)];
  if (!('namespace' in src) && !('namespace' in dst)) throw new Error('verify explain: SRC and DST are both outside the cluster; no NetworkPolicy applies');
  const e = explain(inputs.snapshot, src, dst, port, protocol);
  const a = analyzerOf(inputs);
  const tenantOf = (ep: Endpoint): string => ('namespace' in ep ? a.tenantsOf(ep.namespace).join(', ') || NON_TENANT : 'outside the cluster');
  const tenants = { from: tenantOf(src), to: tenantOf(dst) };
  const code = e.allowed ? 0 : 1;
  if (values.output === 'json') { process.stdout.write(`${JSON.stringify({ ...e, tenants })}\n`); return code; }
  const out = [
    `${protocol}/${port} from ${e.from} to ${e.to}: ${e.allowed ? 'ALLOWED' : 'DENIED'}`,
    `  tenants: ${tenants.from} -> ${tenants.to}`,
    '',
    ...sideText(e.egress, e.to),
    '',
    ...sideText(e.ingress, e.from),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  return code;
}
