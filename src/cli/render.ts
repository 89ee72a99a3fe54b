// `tenant-isolation render`: the NetworkPolicies the operator would apply for the given TenantIsolation,
// IsolationProfile, IsolationBaseline and Namespace manifests, through the same code path (parseTenant
// with the profiles -> MembershipIndex -> planNamespace -> policiesToApply, and the baseline's policies
// where it covers a namespace), for GitOps review and CI.
import { parseArgs } from 'node:util';
import { dump } from 'js-yaml';
import { API_VERSION, BASELINE_KIND, KIND, PROFILE_KIND, RESERVED_NAMESPACES, parseTenant, type TenantIsolationObject, type ValidTenant } from '../api/schema.ts';
import { parseBaseline, type IsolationBaselineObject, type ValidBaseline } from '../api/baseline.ts';
import { profileLookupOf } from '../api/profile.ts';
import type { IsolationProfileObject } from '../api/profile.ts';
import { baselineCovers, baselineTemplates } from '../policy/baseline.ts';
import { MembershipIndex } from '../policy/membership.ts';
import { inNamespace, planNamespace, policiesToApply } from '../policy/desired.ts';
import type { NamespaceObject, NetworkPolicy } from '../policy/types.ts';
import { ManifestError, loadManifests, type Located } from '../manifests/load.ts';
import { compareStrings } from '../policy/order.ts';

export const RENDER_HELP = `Usage: tenant-isolation render [-f] FILE|DIR|- ... [-o yaml|json]

Prints the NetworkPolicies the operator would apply for the TenantIsolation, IsolationProfile,
IsolationBaseline and Namespace manifests given (files, directories of *.yaml/*.yml/*.json, or - for
stdin): each tenant's effective spec (its settings over its profile's), and the baseline's policies in the
namespaces it isolates (mode Enforce). Other kinds are an error, as is anything the operator would report
as InvalidSpec (a missing or invalid profile included). ownerReferences need the owner's metadata.uid
(present in 'kubectl get ... -o yaml'); without it they are left out and a warning is printed.`;

export interface RenderResult { policies: NetworkPolicy[]; warnings: string[] }

export function render(objects: Located[]): RenderResult {
  const warnings: string[] = [];
  const tenants: ValidTenant[] = [];
  const tenantObjs: Located[] = [];
  const profiles: IsolationProfileObject[] = [];
  let baseline: ValidBaseline | undefined;
  const namespaces: NamespaceObject[] = [];
  for (const located of objects) {
    const { object, file, line } = located;
    const kind = `${String(object.apiVersion)}/${String(object.kind)}`;
    const name = (object.metadata as { name?: string } | undefined)?.name;
    if (kind === `${API_VERSION}/${KIND}`) {
      if (!name) throw new ManifestError(file, line, 'TenantIsolation without metadata.name');
      tenantObjs.push(located); // parsed once every profile is known
    } else if (kind === `${API_VERSION}/${PROFILE_KIND}`) {
      if (!name) throw new ManifestError(file, line, 'IsolationProfile without metadata.name');
      profiles.push(object as unknown as IsolationProfileObject);
    } else if (kind === `${API_VERSION}/${BASELINE_KIND}`) {
      const b = object as unknown as IsolationBaselineObject;
      const parsed = parseBaseline({ ...b, metadata: { ...b.metadata, uid: b.metadata?.uid ?? '' } });
      if (!parsed.ok) throw new ManifestError(file, line, `IsolationBaseline ${name ?? ''} is invalid: ${parsed.error}`);
      if (baseline) throw new ManifestError(file, line, 'a second IsolationBaseline: there is one per cluster');
      if (!b.metadata.uid && parsed.baseline.spec.mode === 'Enforce') warnings.push(`${file}:${line}: IsolationBaseline ${name ?? ''} has no metadata.uid; ownerReferences left out`);
      baseline = parsed.baseline;
    } else if (kind === 'v1/Namespace') {
      const ns = object as unknown as NamespaceObject;
      if (!ns.metadata?.name) throw new ManifestError(file, line, 'Namespace without metadata.name');
      namespaces.push(ns);
    } else if (kind === 'v1/Pod' || kind === 'networking.k8s.io/v1/NetworkPolicy') {
      continue; // known, and irrelevant to what the operator writes: the same directory can feed verify
    } else {
      throw new ManifestError(file, line, `unsupported kind ${kind}: render reads ${API_VERSION} ${KIND}, ${PROFILE_KIND} and ${BASELINE_KIND}, and v1 Namespace (and skips Pods and NetworkPolicies)`);
    }
  }
  const lookup = profileLookupOf(profiles);
  for (const { object, file, line } of tenantObjs) {
    const t = object as unknown as TenantIsolationObject;
    const parsed = parseTenant({ ...t, metadata: { ...t.metadata, uid: t.metadata.uid ?? '' } }, lookup);
    if (!parsed.ok) throw new ManifestError(file, line, `TenantIsolation ${t.metadata.name} is invalid: ${parsed.error}`);
    if (!t.metadata.uid) warnings.push(`${file}:${line}: TenantIsolation ${t.metadata.name} has no metadata.uid; ownerReferences left out (the operator adds them on its first reconcile)`);
    tenants.push(parsed.tenant);
  }
  const index = new MembershipIndex(RESERVED_NAMESPACES);
  for (const t of tenants) index.setTenant(t);
  for (const ns of namespaces) index.setNamespace(ns.metadata.name, ns.metadata.labels);
  const byName = new Map(tenants.map((t) => [t.name, t]));
  const policies: NetworkPolicy[] = [];
  for (const ns of [...namespaces].sort((a, b) => compareStrings(a.metadata.name, b.metadata.name))) {
    if (ns.metadata.deletionTimestamp) continue; // the operator leaves terminating namespaces alone
    const claimants = index.claimantsOf(ns.metadata.name).map((n) => byName.get(n)!);
    const covered = baseline?.spec.mode === 'Enforce' && baselineCovers(ns.metadata.name, ns.metadata.labels ?? {}, claimants, baseline, index.reserved);
    const fromBaseline = covered ? baselineTemplates(baseline!).map((t) => inNamespace(t, ns.metadata.name)) : [];
    for (const p of [...policiesToApply(planNamespace(ns.metadata.name, claimants, (t) => index.membersOf(t))), ...fromBaseline]) {
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
