// `tenant-isolation verify`: reachability of a live cluster (kubeconfig) or of a directory of manifests.
// Prints the tenant x tenant matrix (or with --pods the pod x pod one) of allowed paths on a port,
// breaches and pods no policy selects; exits 1 when a breach exists, so CI can gate on it.
import { parseArgs } from 'node:util';
import { API_VERSION, KIND, PLURAL, parseTenant, type TenantIsolationObject, type ValidTenant } from '../api/schema.ts';
import { IsolationAnalyzer, NON_TENANT, type Breach } from '../analysis/analyzer.ts';
import type { Protocol, Snapshot } from '../analysis/types.ts';
import { podInfo, type PodObject } from '../controller/isolation-proof.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { RestClient, isNotFound } from '../kube/rest.ts';
import { ManifestError, loadManifests } from '../manifests/load.ts';
import { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject, NetworkPolicy } from '../policy/types.ts';

export const VERIFY_HELP = `Usage: tenant-isolation verify [--kubeconfig PATH | -f FILE|DIR ...] [--pods] [--port N] [--protocol P] [-o text|json]

Analyses which connections the cluster's NetworkPolicies allow (full networking.k8s.io/v1 semantics) and
proves each TenantIsolation: an undeclared path into or out of a tenant's pods is a breach.
Sources: the cluster of --kubeconfig (default: in-cluster, $KUBECONFIG, ~/.kube/config), or manifests
(-f; Namespaces, Pods, NetworkPolicies, TenantIsolations; pod IPs from status.podIP(s)).
  --pods            pod x pod matrix instead of tenant x tenant
  --port N          port of the matrix (default 80); breaches cover every port
  --protocol P      TCP (default), UDP or SCTP
  -t, --tenant T    only these tenants' breaches count (repeatable)
  -o json           machine-readable; with --pods exactly {"pods": [...], "allowed": [["ns/src","ns/dst"], ...]}
Exit status: 0 no breach, 1 a breach exists, 2 bad input.`;

interface Inputs { snapshot: Snapshot; tenants: ValidTenant[]; membership: Map<string, readonly string[]> }

function assemble(namespaces: NamespaceObject[], pods: PodObject[], policies: NetworkPolicy[], tenantObjs: { obj: TenantIsolationObject; where: string }[]): Inputs {
  const tenants: ValidTenant[] = [];
  for (const { obj, where } of tenantObjs) {
    const p = parseTenant({ ...obj, metadata: { ...obj.metadata, uid: obj.metadata.uid ?? '' } });
    if (!p.ok) throw new Error(`${where}: TenantIsolation ${obj.metadata.name} is invalid: ${p.error}`);
    tenants.push(p.tenant);
  }
  const index = new MembershipIndex();
  for (const t of tenants) index.setTenant(t);
  for (const ns of namespaces) index.setNamespace(ns.metadata.name, ns.metadata.labels);
  return {
    snapshot: { namespaces: namespaces.map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })), pods: pods.map(podInfo), policies },
    tenants,
    membership: new Map(tenants.map((t) => [t.name, index.membersOf(t.name)])),
  };
}

async function fromCluster(kubeconfig: string | undefined): Promise<Inputs> {
  const rest = await RestClient.create(loadKubeConfig(kubeconfig));
  try {
    const list = async <T>(path: string): Promise<T[]> => (await rest.get<{ items: T[] }>(path)).items;
    const tenants = await list<TenantIsolationObject>(`/apis/${API_VERSION}/${PLURAL}`).catch((e: unknown) => { if (isNotFound(e)) return []; throw e; });
    return assemble(
      await list<NamespaceObject>('/api/v1/namespaces'),
      await list<PodObject>('/api/v1/pods'),
      await list<NetworkPolicy>('/apis/networking.k8s.io/v1/networkpolicies'),
      tenants.map((obj) => ({ obj, where: 'cluster' })),
    );
  } finally { rest.close(); }
}

function fromManifests(paths: string[]): Inputs {
  const namespaces: NamespaceObject[] = [];
  const pods: PodObject[] = [];
  const policies: NetworkPolicy[] = [];
  const tenants: { obj: TenantIsolationObject; where: string }[] = [];
  for (const { object, file, line } of loadManifests(paths)) {
    const kind = `${String(object.apiVersion)}/${String(object.kind)}`;
    const md = object.metadata as { name?: string; namespace?: string } | undefined;
    if (!md?.name) throw new ManifestError(file, line, `${kind} without metadata.name`);
    switch (kind) {
      case 'v1/Namespace': namespaces.push(object as unknown as NamespaceObject); break;
      case 'v1/Pod': pods.push({ ...(object as unknown as PodObject), metadata: { ...(object as unknown as PodObject).metadata, namespace: md.namespace ?? 'default' } }); break;
      case 'networking.k8s.io/v1/NetworkPolicy': policies.push({ ...(object as unknown as NetworkPolicy), metadata: { ...(object as unknown as NetworkPolicy).metadata, namespace: md.namespace ?? 'default' } }); break;
      case `${API_VERSION}/${KIND}`: tenants.push({ obj: object as unknown as TenantIsolationObject, where: `${file}:${line}` }); break;
      default: throw new ManifestError(file, line, `unsupported kind ${kind}: verify reads Namespace, Pod, NetworkPolicy and TenantIsolation`);
    }
  }
  return assemble(namespaces, pods, policies, tenants);
}

function table(labels: string[], cell: (r: string, c: string) => string): string {
  const w = Math.max(8, ...labels.map((l) => l.length));
  const head = `${'from \\ to'.padEnd(w)}  ${labels.map((l) => l.padStart(Math.max(l.length, 3))).join('  ')}`;
  return [head, ...labels.map((r) => `${r.padEnd(w)}  ${labels.map((c) => cell(r, c).padStart(Math.max(c.length, 3))).join('  ')}`)].join('\n');
}

/** Exit status 0 no breach, 1 a breach; bad input is 2 so that it never reads as "a breach exists". */
export async function verifyCommand(argv: string[]): Promise<number> {
  try {
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
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--port: must be 1-65535, not ${values.port}`);
  const protocol = values.protocol.toUpperCase() as Protocol;
  if (!['TCP', 'UDP', 'SCTP'].includes(protocol)) throw new Error(`--protocol: must be TCP, UDP or SCTP, not ${values.protocol}`);
  if (values.output !== 'text' && values.output !== 'json') throw new Error(`-o: must be text or json, not ${values.output}`);
  const files = [...(values.filename ?? []), ...positionals];
  const inputs = files.length > 0 ? fromManifests(files) : await fromCluster(values.kubeconfig);
  const analyzer = IsolationAnalyzer.fromSnapshot(inputs.snapshot, inputs.tenants, inputs.membership);
  const only = values.tenant;
  for (const t of only ?? []) if (!inputs.tenants.some((x) => x.name === t)) throw new Error(`--tenant: no TenantIsolation named ${t}`);
  const breaches: Breach[] = [...analyzer.allBreaches()].filter(([t]) => !only || only.includes(t)).flatMap(([, b]) => b);
  const code = breaches.length > 0 ? 1 : 0;

  if (values.pods) {
    const pods = inputs.snapshot.pods.map((p) => `${p.namespace}/${p.name}`).sort();
    const allowed = analyzer.allowedPairs(port, protocol).sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
    if (values.output === 'json') { process.stdout.write(`${JSON.stringify({ pods, allowed })}\n`); return code; }
    const set = new Set(allowed.map(([s, d]) => `${s}\n${d}`));
    process.stdout.write(`Allowed connections on ${protocol}/${port} (row = source, column = destination):\n`);
    process.stdout.write(`${table(pods, (r, c) => (r === c ? '-' : set.has(`${r}\n${c}`) ? 'yes' : '.'))}\n`);
    return code;
  }
  const matrix = analyzer.tenantMatrix(port, protocol);
  const unselected = analyzer.podsSelectedByNoPolicy();
  if (values.output === 'json') {
    process.stdout.write(`${JSON.stringify({ port, protocol, tenants: matrix.tenants, matrix: matrix.counts, breaches, podsSelectedByNoPolicy: unselected })}\n`);
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
  process.stdout.write(`${out.join('\n')}\n`);
  return code;
}
