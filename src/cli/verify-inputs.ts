// What `verify` analyses: a live cluster (kubeconfig) or manifests (files and directories), read into
// one snapshot with the valid tenants (their effective specs, profiles applied), their exclusive members,
// and what the cluster baseline covers.
import {
  API_VERSION, BASELINE_KIND, BASELINE_NAME, BASELINE_PLURAL, KIND, PLURAL, PROFILE_KIND, PROFILE_PLURAL, RESERVED_NAMESPACES, parseTenant,
  type TenantIsolationObject, type ValidTenant,
} from '../api/schema.ts';
import { parseBaseline, type IsolationBaselineObject } from '../api/baseline.ts';
import { profileLookupOf, type IsolationProfileObject } from '../api/profile.ts';
import { baselineCovers, baselineTemplates } from '../policy/baseline.ts';
import { claimsOf, missingGate } from '../admission/policies.ts';
import { IsolationAnalyzer, type AnalyzerOptions } from '../analysis/analyzer.ts';
import { PROTOCOLS, type Protocol, type Snapshot } from '../analysis/types.ts';
import { podInfo, type PodObject } from '../controller/isolation-proof.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { RestClient, isNotFound } from '../kube/rest.ts';
import { ManifestError, loadManifests } from '../manifests/load.ts';
import { shapeError } from '../manifests/shapes.ts';
import { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject, NetworkPolicy } from '../policy/types.ts';

export interface Inputs {
  snapshot: Snapshot; tenants: ValidTenant[]; membership: Map<string, readonly string[]>;
  /** Tenants of a live cluster whose spec is invalid: not analysed (the operator leaves what they hold as it is). */
  skipped: { tenant: string; error: string }[];
  /** A live cluster's admission gate: what is missing of it (undefined for manifests). */
  gate?: { missing: string[] } | { unknown: string };
  /** The cluster baseline, when there is one (not Off). */
  baseline?: BaselineFindings;
}

/** What the baseline covers and, in Enforce mode, which covered namespaces lack its policies. */
export interface BaselineFindings {
  mode: 'Enforce' | 'Audit';
  /** Namespaces it isolates (Enforce) or would isolate (Audit), sorted. */
  namespaces: string[];
  /** Enforce: "ns: policy, ..." for each covered namespace missing some of its policies. */
  missing: string[];
}

function assemble(manifests: boolean, namespaces: NamespaceObject[], pods: PodObject[], policies: NetworkPolicy[], tenantObjs: { obj: TenantIsolationObject; where: string }[],
  profiles: IsolationProfileObject[] = [], baselineObj?: { obj: IsolationBaselineObject; where: string }): Inputs {
  const tenants: ValidTenant[] = [];
  /** What invalid tenants of a live cluster still claim: the operator counts those claims too (conflicts, the baseline). */
  const invalidClaims: ValidTenant[] = [];
  const skipped: Inputs['skipped'] = [];
  const lookup = profileLookupOf(profiles);
  for (const { obj, where } of tenantObjs) {
    const p = parseTenant({ ...obj, metadata: { ...obj.metadata, uid: obj.metadata.uid ?? '' } }, lookup);
    // In manifests an invalid tenant is bad input; in a live cluster it is a fact to report.
    if (!p.ok && where === 'cluster') {
      skipped.push({ tenant: obj.metadata.name, error: p.error });
      if (p.claims) invalidClaims.push(p.claims);
      continue;
    }
    if (!p.ok) throw new Error(`${where}: TenantIsolation ${obj.metadata.name} is invalid: ${p.error}`);
    tenants.push(p.tenant);
  }
  const index = new MembershipIndex(RESERVED_NAMESPACES);
  for (const t of [...tenants, ...invalidClaims]) index.setTenant(t);
  for (const ns of namespaces) index.setNamespace(ns.metadata.name, ns.metadata.labels);
  let baseline: BaselineFindings | undefined;
  if (baselineObj) {
    const b = parseBaseline({ ...baselineObj.obj, metadata: { ...baselineObj.obj.metadata, uid: baselineObj.obj.metadata.uid ?? '' } });
    if (!b.ok) throw new Error(`${baselineObj.where}: IsolationBaseline ${baselineObj.obj.metadata.name} is invalid: ${b.error}`);
    const mode = b.baseline.spec.mode;
    if (mode !== 'Off') {
      const byName = new Map([...tenants, ...invalidClaims].map((t) => [t.name, t]));
      const held = new Set(policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`));
      const wanted = baselineTemplates(b.baseline).map((t) => t.metadata.name);
      const covered = namespaces.filter((n) => !n.metadata.deletionTimestamp && baselineCovers(n.metadata.name, n.metadata.labels ?? {},
        index.claimantsOf(n.metadata.name).map((t) => byName.get(t)).filter((t): t is ValidTenant => t !== undefined), b.baseline, index.reserved))
        .map((n) => n.metadata.name).sort();
      const missing = mode === 'Audit' ? [] : covered.flatMap((ns) => {
        const lacking = wanted.filter((w) => !held.has(`${ns}/${w}`));
        return lacking.length > 0 ? [`${ns}: ${lacking.join(', ')}`] : [];
      });
      baseline = { mode, namespaces: covered, missing };
    }
  }
  return {
    // From manifests a pod without an IP gets one later, at an address nobody knows yet.
    snapshot: { namespaces: namespaces.map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })), pods: pods.map(podInfo), policies, podsWithoutIpAnywhere: manifests },
    tenants,
    membership: new Map(tenants.map((t) => [t.name, index.membersOf(t.name)])),
    skipped,
    ...(baseline ? { baseline } : {}),
  };
}

export async function fromCluster(kubeconfig: string | undefined): Promise<Inputs> {
  const rest = await RestClient.create(loadKubeConfig(kubeconfig));
  try {
    const list = async <T>(path: string): Promise<T[]> => (await rest.get<{ items: T[] }>(path)).items;
    // A cluster without the CRDs has none of these objects.
    const orNone = <T>(e: unknown): T[] => { if (isNotFound(e)) return []; throw e; };
    const tenants = await list<TenantIsolationObject>(`/apis/${API_VERSION}/${PLURAL}`).catch(orNone<TenantIsolationObject>);
    const profiles = await list<IsolationProfileObject>(`/apis/${API_VERSION}/${PROFILE_PLURAL}`).catch(orNone<IsolationProfileObject>);
    const baseline = (await list<IsolationBaselineObject>(`/apis/${API_VERSION}/${BASELINE_PLURAL}`).catch(orNone<IsolationBaselineObject>)).find((b) => b.metadata.name === BASELINE_NAME);
    const inputs = assemble(false,
      await list<NamespaceObject>('/api/v1/namespaces'),
      await list<PodObject>('/api/v1/pods'),
      await list<NetworkPolicy>('/apis/networking.k8s.io/v1/networkpolicies'),
      tenants.map((obj) => ({ obj, where: 'cluster' })),
      profiles,
      baseline && { obj: baseline, where: 'cluster' },
    );
    try {
      const names = async (path: string): Promise<Set<string>> => new Set((await list<{ metadata: { name: string } }>(path)).map((o) => o.metadata.name));
      const policies = await names('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies');
      const bindings = await names('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings');
      inputs.gate = { missing: missingGate(inputs.tenants.map(claimsOf), policies, bindings) };
    } catch (e) {
      inputs.gate = { unknown: e instanceof Error ? e.message : String(e) };
    }
    return inputs;
  } finally { rest.close(); }
}

/**
 * `allowEmpty`: manifests holding no object are a state to compare with (verify diff's OLD side before a
 * first change), not an input error.
 */
export function fromManifests(paths: string[], o: { allowEmpty?: boolean } = {}): Inputs {
  const namespaces: NamespaceObject[] = [];
  const pods: PodObject[] = [];
  const policies: NetworkPolicy[] = [];
  const tenants: { obj: TenantIsolationObject; where: string }[] = [];
  const profiles: IsolationProfileObject[] = [];
  let baseline: { obj: IsolationBaselineObject; where: string } | undefined;
  const manifests = loadManifests(paths);
  // Nothing to analyse proves nothing: a gate pointed at the wrong path must not pass.
  if (manifests.length === 0 && !o.allowEmpty) throw new Error(`${paths.join(', ')}: no Kubernetes objects found (verify reads *.yaml, *.yml and *.json files)`);
  // One object per kind, namespace and name, as in a cluster: a second one would be analysed beside the
  // first by some commands and replace it in others.
  const seen = new Map<string, string>();
  for (const { object, file, line } of manifests) {
    const kind = `${String(object.apiVersion)}/${String(object.kind)}`;
    const md = object.metadata as { name?: string; namespace?: string } | undefined;
    if (!md?.name) throw new ManifestError(file, line, `${kind} without metadata.name`);
    const id = `${kind} ${md.namespace ?? (kind === 'v1/Pod' || kind === 'networking.k8s.io/v1/NetworkPolicy' ? 'default' : '')}/${md.name}`;
    const first = seen.get(id);
    if (first) throw new ManifestError(file, line, `${kind} ${md.namespace ? `${md.namespace}/` : ''}${md.name} is also defined at ${first}`);
    seen.set(id, `${file}:${line}`);
    const wrong = shapeError(kind, object);
    if (wrong) throw new ManifestError(file, line, `${kind} ${md.namespace ? `${md.namespace}/` : ''}${md.name}: ${wrong}`);
    switch (kind) {
      case 'v1/Namespace': namespaces.push(object as unknown as NamespaceObject); break;
      case 'v1/Pod': pods.push({ ...(object as unknown as PodObject), metadata: { ...(object as unknown as PodObject).metadata, namespace: md.namespace ?? 'default' } }); break;
      case 'networking.k8s.io/v1/NetworkPolicy': {
        // An absent podSelector is stored as {} (every pod of the namespace), as the apiserver stores it.
        const np = object as unknown as NetworkPolicy;
        policies.push({ ...np, metadata: { ...np.metadata, namespace: md.namespace ?? 'default' }, spec: { ...np.spec, podSelector: np.spec.podSelector ?? {} } });
        break;
      }
      case `${API_VERSION}/${KIND}`: tenants.push({ obj: object as unknown as TenantIsolationObject, where: `${file}:${line}` }); break;
      case `${API_VERSION}/${PROFILE_KIND}`: profiles.push(object as unknown as IsolationProfileObject); break;
      case `${API_VERSION}/${BASELINE_KIND}`:
        if (baseline) throw new ManifestError(file, line, 'a second IsolationBaseline: there is one per cluster');
        baseline = { obj: object as unknown as IsolationBaselineObject, where: `${file}:${line}` };
        break;
      default: throw new ManifestError(file, line, `unsupported kind ${kind}: verify reads Namespace, Pod, NetworkPolicy, TenantIsolation, IsolationProfile and IsolationBaseline`);
    }
  }
  return assemble(true, namespaces, pods, policies, tenants, profiles, baseline);
}

/** Manifests when paths are given, else the cluster; not both (the cluster would be silently left out). */
export function loadInputs(paths: string[], kubeconfig: string | undefined): Promise<Inputs> {
  if (paths.length > 0 && kubeconfig !== undefined) return Promise.reject(new Error('--kubeconfig: not used with -f or paths (analyse the cluster, or manifests, not both)'));
  return paths.length > 0 ? Promise.resolve(fromManifests(paths)) : fromCluster(kubeconfig);
}

/** -t names: each must be a tenant analysed here (an invalid one in the cluster is said to be invalid). */
export function checkTenantNames(only: readonly string[] | undefined, i: Inputs): void {
  for (const t of only ?? []) {
    if (i.tenants.some((x) => x.name === t)) continue;
    const invalid = i.skipped.find((x) => x.tenant === t);
    throw new Error(invalid ? `--tenant: TenantIsolation ${t} has an invalid spec (${invalid.error}): it cannot be analysed` : `--tenant: no TenantIsolation named ${t}`);
  }
}

export const analyzerOf = (i: Inputs, options: AnalyzerOptions = {}): IsolationAnalyzer =>
  IsolationAnalyzer.fromSnapshot(i.snapshot, i.tenants, i.membership, options);

export function parsePort(v: string, flag = '--port'): number {
  const port = Number(v);
  if (!/^\d+$/.test(v) || port < 1 || port > 65535) throw new Error(`${flag}: must be 1-65535, not ${v}`);
  return port;
}

export function parseProtocol(v: string): Protocol {
  const p = v.toUpperCase() as Protocol;
  if (!PROTOCOLS.includes(p)) throw new Error(`--protocol: must be TCP, UDP or SCTP, not ${v}`);
  return p;
}
