// Cluster-wide views for `verify`: allowed pod pairs on one port, the tenant x tenant matrix, and the
// pods no policy selects. They read the model; nothing is cached between calls.
import { Deps } from './dependencies.ts';
import type { ClusterModel, PodClass } from './model.ts';
import { has, intersect, isEmpty, type PortSet } from './ports.ts';
import type { TenantModels } from './tenant-model.ts';
import type { Protocol } from './types.ts';
import { compareStrings } from '../policy/order.ts';

export interface TenantMatrix {
  /** Row and column labels: tenants sorted, then NON_TENANT for pods in no tenant's namespace. */
  tenants: string[];
  /** counts[src][dst] = allowed ordered pod pairs (distinct pods) from src's pods to dst's pods. */
  counts: Record<string, Record<string, number>>;
}
export const NON_TENANT = '(no tenant)';

/** Pods no policy selects for Ingress ("ns/name", sorted): what Gatekeeper's require-networkpolicy flags. */
export function podsSelectedByNoPolicy(model: ClusterModel): string[] {
  const out: string[] = [];
  for (const c of model.classes.values()) if (model.selected(c).ingress.length === 0) out.push(...c.pods.keys());
  return out.sort();
}

/** Classes the source class's egress can reach at all (every class when it is not isolated for egress). */
function egressCandidates(model: ClusterModel, s: PodClass, scratch: Deps): Iterable<PodClass> {
  if (!model.isolated(s, 'egress')) return model.classes.values();
  const set = new Set<PodClass>();
  for (const p of model.selected(s).egress) for (const r of p.egress) for (const d of model.candidates(r.peers, p.namespace, scratch)) set.add(d);
  return set;
}

/** Ordered pairs of classes whose pods may connect on port/protocol. */
function* allowedClassPairs(model: ClusterModel, port: number, protocol: Protocol): Generator<[PodClass, PodClass]> {
  const scratch = new Deps();
  for (const s of model.classes.values()) {
    for (const d of egressCandidates(model, s, scratch)) {
      if (has(model.sidePorts(s, 'egress', d, d.containerPorts), protocol, port) && has(model.sidePorts(d, 'ingress', s, d.containerPorts), protocol, port)) yield [s, d];
    }
  }
}

/** Allowed pod pairs on port/protocol counted per ordered pair of distinct namespaces (class pairs, never pod pairs, are enumerated). */
export function namespacePairs(model: ClusterModel, port: number, protocol: Protocol): { from: string; to: string; pairs: number }[] {
  const counts = new Map<string, number>();
  for (const [s, d] of allowedClassPairs(model, port, protocol)) {
    if (s.namespace === d.namespace) continue;
    const k = `${s.namespace}\n${d.namespace}`;
    counts.set(k, (counts.get(k) ?? 0) + s.pods.size * d.pods.size);
  }
  return [...counts].sort(([a], [b]) => compareStrings(a, b)).map(([k, pairs]) => {
    const [from, to] = k.split('\n') as [string, string];
    return { from, to, pairs };
  });
}

/** An ordered pair of distinct pods ("ns/name") and every port (all protocols) a connection between them is allowed on. */
export interface Connection { from: string; to: string; ports: PortSet }

/** Every allowed pod-to-pod connection with its exact port set: the source's egress AND the destination's ingress. */
export function connections(model: ClusterModel): Connection[] {
  const scratch = new Deps();
  const out: Connection[] = [];
  for (const s of model.classes.values()) {
    for (const d of egressCandidates(model, s, scratch)) {
      const ports = intersect(model.sidePorts(s, 'egress', d, d.containerPorts), model.sidePorts(d, 'ingress', s, d.containerPorts));
      if (isEmpty(ports)) continue;
      for (const a of s.pods.keys()) for (const b of d.pods.keys()) if (a !== b) out.push({ from: a, to: b, ports });
    }
  }
  return out.sort((x, y) => compareStrings(x.from, y.from) || compareStrings(x.to, y.to));
}

/** Every ordered pair of distinct pods ("ns/name") whose connection on port/protocol is allowed. */
export function allowedPairs(model: ClusterModel, port: number, protocol: Protocol): [string, string][] {
  const out: [string, string][] = [];
  for (const [s, d] of allowedClassPairs(model, port, protocol)) {
    for (const a of s.pods.keys()) for (const b of d.pods.keys()) if (a !== b) out.push([a, b]);
  }
  return out;
}

/** Allowed pod pairs counted per (source tenant, destination tenant); pods outside tenants count as NON_TENANT. */
export function tenantMatrix(model: ClusterModel, tenants: TenantModels, port: number, protocol: Protocol): TenantMatrix {
  const labels = [...tenants.names(), NON_TENANT];
  const counts: Record<string, Record<string, number>> = {};
  for (const t of labels) counts[t] = Object.fromEntries(labels.map((u) => [u, 0]));
  const ownerOf = (ns: string): string[] => {
    const o = [...tenants.ownersOf(ns)];
    return o.length > 0 ? o : [NON_TENANT];
  };
  for (const [s, d] of allowedClassPairs(model, port, protocol)) {
    const n = s.pods.size * d.pods.size - (s === d ? s.pods.size : 0);
    if (n === 0) continue;
    for (const a of ownerOf(s.namespace)) for (const b of ownerOf(d.namespace)) counts[a]![b]! += n;
  }
  return { tenants: labels, counts };
}
