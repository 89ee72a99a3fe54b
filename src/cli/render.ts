// `tenant-isolation render`: the NetworkPolicies the operator would apply for the given TenantIsolation
// and Namespace manifests, through the same code path (MembershipIndex -> planNamespace ->
// policiesToApply), for GitOps review and CI.
import { parseArgs } from 'node:util';
import { dump } from 'js-yaml';
import { API_VERSION, KIND, RESERVED_NAMESPACES, parseTenant, type TenantIsolationObject, type ValidTenant } from '../api/schema.ts';
import { MembershipIndex } from '../policy/membership.ts';
import { planNamespace, policiesToApply } from '../policy/desired.ts';
import type { NamespaceObject, NetworkPolicy } from '../policy/types.ts';
import { ManifestError, loadManifests, type Located } from '../manifests/load.ts';

export const RENDER_HELP = `Usage: tenant-isolation render [-f] FILE|DIR|- ... [-o yaml|json]

Prints the NetworkPolicies the operator would apply for the TenantIsolation and Namespace manifests given
(files, directories of *.yaml/*.yml/*.json, or - for stdin). Other kinds are an error, as is anything the
operator would report as InvalidSpec. ownerReferences need the TenantIsolation's metadata.uid (present in
'kubectl get tenantisolations -o yaml'); without it they are left out and a warning is printed.`;

export interface RenderResult { policies: NetworkPolicy[]; warnings: string[] }

export function render(objects: Located[]): RenderResult {
  const warnings: string[] = [];
  const tenants: ValidTenant[] = [];
  const namespaces: NamespaceObject[] = [];
  for (const { object, file, line } of objects) {
    const kind = `${String(object.apiVersion)}/${String(object.kind)}`;
    if (kind === `${API_VERSION}/${KIND}`) {
      const t = object as unknown as TenantIsolationObject;
      const name = t.metadata?.name;
      if (!name) throw new ManifestError(file, line, 'TenantIsolation without metadata.name');
      const parsed = parseTenant({ ...t, metadata: { ...t.metadata, uid: t.metadata.uid ?? '' } });
      if (!parsed.ok) throw new ManifestError(file, line, `TenantIsolation ${name} is invalid: ${parsed.error}`);
      if (!t.metadata.uid) warnings.push(`${file}:${line}: TenantIsolation ${name} has no metadata.uid; ownerReferences left out (the operator adds them on its first reconcile)`);
      tenants.push(parsed.tenant);
    } else if (kind === 'v1/Namespace') {
      const ns = object as unknown as NamespaceObject;
      if (!ns.metadata?.name) throw new ManifestError(file, line, 'Namespace without metadata.name');
      namespaces.push(ns);
    } else if (kind === 'v1/Pod' || kind === 'networking.k8s.io/v1/NetworkPolicy') {
      continue; // known, and irrelevant to what the operator writes: the same directory can feed verify
    } else {
      throw new ManifestError(file, line, `unsupported kind ${kind}: render reads ${API_VERSION} ${KIND} and v1 Namespace (and skips Pods and NetworkPolicies)`);
    }
  }
  const index = new MembershipIndex(RESERVED_NAMESPACES);
  for (const t of tenants) index.setTenant(t);
  for (const ns of namespaces) index.setNamespace(ns.metadata.name, ns.metadata.labels);
  const byName = new Map(tenants.map((t) => [t.name, t]));
  const policies: NetworkPolicy[] = [];
  for (const ns of [...namespaces].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    if (ns.metadata.deletionTimestamp) continue; // the operator leaves terminating namespaces alone
    const claimants = index.claimantsOf(ns.metadata.name).map((n) => byName.get(n)!);
    for (const p of policiesToApply(planNamespace(ns.metadata.name, claimants, (t) => index.membersOf(t)))) {
      const refs = p.metadata.ownerReferences?.filter((r) => r.uid !== '');
      if (refs && refs.length > 0) p.metadata.ownerReferences = refs; else delete p.metadata.ownerReferences;
      policies.push(p);
    }
  }
  return { policies, warnings };
}

export function renderCommand(argv: string[]): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: {
    filename: { type: 'string', short: 'f', multiple: true }, output: { type: 'string', short: 'o', default: 'yaml' }, help: { type: 'boolean', short: 'h' },
  } });
  if (values.help) { process.stdout.write(`${RENDER_HELP}\n`); return 0; }
  const files = [...(values.filename ?? []), ...positionals];
  if (files.length === 0) throw new Error('render: give at least one file, directory or - (see --help)');
  if (values.output !== 'yaml' && values.output !== 'json') throw new Error(`-o: must be yaml or json, not ${values.output}`);
  const { policies, warnings } = render(loadManifests(files));
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(values.output === 'json'
    ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: policies }, null, 2)}\n`
    : policies.map((p) => dump(p, { noRefs: true, lineWidth: -1 })).join('---\n'));
  return 0;
}
