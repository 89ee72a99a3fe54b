// What `verify` analyses: a live cluster (kubeconfig) or manifests (files and directories), read into
// one snapshot with the valid tenants and their exclusive members.
import { API_VERSION, KIND, PLURAL, RESERVED_NAMESPACES, parseTenant, type TenantIsolationObject, type ValidTenant } from '../api/schema.ts';
import { claimsOf, missingGate } from '../admission/policies.ts';
import { IsolationAnalyzer } from '../analysis/analyzer.ts';
import { PROTOCOLS, type Protocol, type Snapshot } from '../analysis/types.ts';
import { podInfo, type PodObject } from '../controller/isolation-proof.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { RestClient, isNotFound } from '../kube/rest.ts';
import { ManifestError, loadManifests } from '../manifests/load.ts';
import { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject, NetworkPolicy } from '../policy/types.ts';

export interface Inputs {
  snapshot: Snapshot; tenants: ValidTenant[]; membership: Map<string, readonly string[]>;
  /** Tenants of a live cluster whose spec is invalid: not analysed (the operator keeps them failing closed). */
  skipped: { tenant: string; error: string }[];
  /** A live cluster's admission gate: what is missing of it (undefined for manifests). */
  gate?: { missing: string[] } | { unknown: string };
}

function assemble(namespaces: NamespaceObject[], pods: PodObject[], policies: NetworkPolicy[], tenantObjs: { obj: TenantIsolationObject; where: string }[]): Inputs {
  const tenants: ValidTenant[] = [];
  const skipped: Inputs['skipped'] = [];
  for (const { obj, where } of tenantObjs) {
    const p = parseTenant({ ...obj, metadata: { ...obj.metadata, uid: obj.metadata.uid ?? '' } });
    // In manifests an invalid tenant is bad input; in a live cluster it is a fact to report.
    if (!p.ok && where === 'cluster') { skipped.push({ tenant: obj.metadata.name, error: p.error }); continue; }
    if (!p.ok) throw new Error(`${where}: TenantIsolation ${obj.metadata.name} is invalid: ${p.error}`);
    tenants.push(p.tenant);
  }
  const index = new MembershipIndex(RESERVED_NAMESPACES);
  for (const t of tenants) index.setTenant(t);
  for (const ns of namespaces) index.setNamespace(ns.metadata.name, ns.metadata.labels);
  return {
    snapshot: { namespaces: namespaces.map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })), pods: pods.map(podInfo), policies },
    tenants,
    membership: new Map(tenants.map((t) => [t.name, index.membersOf(t.name)])),
    skipped,
  };
}

export async function fromCluster(kubeconfig: string | undefined): Promise<Inputs> {
  const rest = await RestClient.create(loadKubeConfig(kubeconfig));
  try {
    const list = async <T>(path: string): Promise<T[]> => (await rest.get<{ items: T[] }>(path)).items;
    const tenants = await list<TenantIsolationObject>(`/apis/${API_VERSION}/${PLURAL}`).catch((e: unknown) => { if (isNotFound(e)) return []; throw e; });
    const inputs = assemble(
      await list<NamespaceObject>('/api/v1/namespaces'),
      await list<PodObject>('/api/v1/pods'),
      await list<NetworkPolicy>('/apis/networking.k8s.io/v1/networkpolicies'),
      tenants.map((obj) => ({ obj, where: 'cluster' })),
    );
    try {
      const names = async (path: string): Promise<Set<string>> => new Set((await list<{ metadata: { name: string } }>(path)).map((o) => o.metadata.name));
      const policies = await names('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies');
      const bindings = await names('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings');
      inputs.gate = { missing: missingGate(inputs.tenants.map(claimsOf), RESERVED_NAMESPACES, policies, bindings) };
    } catch (e) {
      inputs.gate = { unknown: e instanceof Error ? e.message : String(e) };
    }
    return inputs;
  } finally { rest.close(); }
}

export function fromManifests(paths: string[]): Inputs {
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

/** Manifests when paths are given, else the cluster. */
export const loadInputs = (paths: string[], kubeconfig: string | undefined): Promise<Inputs> =>
  paths.length > 0 ? Promise.resolve(fromManifests(paths)) : fromCluster(kubeconfig);

export const analyzerOf = (i: Inputs): IsolationAnalyzer => IsolationAnalyzer.fromSnapshot(i.snapshot, i.tenants, i.membership);

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
