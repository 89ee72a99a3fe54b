// What a change does to reachability (`verify diff`): the connections the new state allows that the old
// did not, and the reverse, per pod pair (with the exact ports) and per tenant pair (pod pairs counted),
// and the breaches it adds or removes. Pure: two states in, a comparison out.
import type { IPBlock, ValidTenant } from '../api/schema.ts';
import { cidrBoundaries, parseCidr } from '../net/cidr.ts';
import { DEFAULT_EXTERNAL_SAMPLES, type Breach, type Connection } from './analyzer.ts';
import { formatIp } from './compile.ts';
import type { Snapshot } from './types.ts';
import { NON_TENANT } from './views.ts';
import { formatPortSet, isEmpty, range, subtract, union, NO_PORTS, type PortSet } from './ports.ts';
import { compareStrings } from '../policy/order.ts';

export interface ReachabilityState {
  connections: readonly Connection[];
  /** Tenants a namespace belongs to (empty: none). */
  tenantsOf(namespace: string): readonly string[];
  breaches: readonly Breach[];
}

export interface PodPairChange { from: string; to: string; ports: string }
export interface TenantPairChange { from: string; to: string; podPairs: number }
export interface ConnectionChanges { tenantPairs: TenantPairChange[]; podPairs: PodPairChange[] }

export interface ReachabilityDiff {
  added: ConnectionChanges;
  removed: ConnectionChanges;
  breaches: { added: Breach[]; removed: Breach[] };
}

const key = (from: string, to: string): string => `${from}\n${to}`;
const nsOf = (pod: string): string => pod.slice(0, pod.indexOf('/'));
/**
 * What a breach exposes, per tenant pod: (tenant, direction, peer, pod) -> breaching ports. A breach is
 * new only where it exposes a pod on a port the other state did not: a change that removes a pod from a
 * breach, narrows its ports, or moves it to another admitting policy adds nothing.
 */
function exposure(breaches: readonly Breach[]): Map<string, PortSet> {
  const out = new Map<string, PortSet>();
  for (const b of breaches) {
    const ports = range(b.protocol, b.port, b.endPort ?? b.port);
    for (const pod of b.pods) {
      const k = JSON.stringify([b.tenant, b.direction, b.peer, pod]);
      out.set(k, union(out.get(k) ?? NO_PORTS, ports));
    }
  }
  return out;
}

/** Whether `b` exposes some pod on some port `other` does not. */
const exposesMore = (b: Breach, other: ReadonlyMap<string, PortSet>): boolean => {
  const ports = range(b.protocol, b.port, b.endPort ?? b.port);
  return b.pods.some((pod) => !isEmpty(subtract(ports, other.get(JSON.stringify([b.tenant, b.direction, b.peer, pod])) ?? NO_PORTS)));
};

/** Pod pairs whose ports in `a` are not all in `b`, with the ports only `a` has, and their count per tenant pair. */
function changes(a: ReadonlyMap<string, PortSet>, b: ReadonlyMap<string, PortSet>, tenantsOf: (ns: string) => readonly string[]): ConnectionChanges {
  const podPairs: PodPairChange[] = [];
  const perTenant = new Map<string, number>();
  for (const [k, ports] of a) {
    const extra = subtract(ports, b.get(k) ?? NO_PORTS);
    if (isEmpty(extra)) continue;
    const [from, to] = k.split('\n') as [string, string];
    podPairs.push({ from, to, ports: formatPortSet(extra) });
    const owners = (ns: string): readonly string[] => { const t = tenantsOf(ns); return t.length > 0 ? t : [NON_TENANT]; };
    for (const s of owners(nsOf(from))) for (const d of owners(nsOf(to))) perTenant.set(key(s, d), (perTenant.get(key(s, d)) ?? 0) + 1);
  }
  const tenantPairs = [...perTenant].map(([k, podPairs]) => { const [from, to] = k.split('\n') as [string, string]; return { from, to, podPairs }; })
    .sort((x, y) => compareStrings(x.from, y.from) || compareStrings(x.to, y.to));
  return { tenantPairs, podPairs };
}

/**
 * Outside addresses to analyse both states at (AnalyzerOptions.externalSamples). An external breach is
 * named by one address of its region, and the ipBlocks cutting the space into regions differ between the
 * states: sampled at every boundary of every ipBlock either state's tenants name (and 0.0.0.0, :: with
 * IPv6), both states name every region alike, so widening an undeclared ipBlock adds a breach.
 */
export function sharedExternalSamples(states: readonly { snapshot: Snapshot; tenants: readonly ValidTenant[]; membership: ReadonlyMap<string, readonly string[]> }[]): string[] {
  const blocks: IPBlock[] = [];
  const members = new Set(states.flatMap((s) => [...s.membership.values()].flat()));
  for (const s of states) {
    for (const p of s.snapshot.policies) {
      if (!members.has(p.metadata.namespace)) continue;
      for (const r of [...(p.spec.ingress ?? []).map((x) => x.from), ...(p.spec.egress ?? []).map((x) => x.to)]) for (const peer of r ?? []) if (peer.ipBlock) blocks.push(peer.ipBlock);
    }
    for (const t of s.tenants) {
      blocks.push(...t.spec.dns.ipBlocks);
      for (const a of [...t.spec.allow.ingressFrom, ...t.spec.allow.egressTo]) if (a.ipBlock) blocks.push(a.ipBlock);
    }
  }
  const out = new Set([...DEFAULT_EXTERNAL_SAMPLES, '0.0.0.0']);
  let ipv6 = false;
  for (const c of blocks.flatMap((b) => [b.cidr, ...(b.except ?? [])]).map(parseCidr)) {
    if (!c) continue;
    for (const ip of cidrBoundaries(c)) out.add(formatIp(ip.family, ip.value));
    if (c.family === 6) ipv6 = true;
  }
  if (ipv6) out.add(formatIp(6, 0n));
  return [...out];
}

export function diffReachability(before: ReachabilityState, after: ReachabilityState): ReachabilityDiff {
  const index = (s: ReachabilityState): Map<string, PortSet> => new Map(s.connections.map((c) => [key(c.from, c.to), c.ports]));
  const old = index(before);
  const next = index(after);
  const oldExposure = exposure(before.breaches);
  const newExposure = exposure(after.breaches);
  return {
    // Added connections are attributed to tenants as the new state has them, removed ones as the old had them.
    added: changes(next, old, (ns) => after.tenantsOf(ns)),
    removed: changes(old, next, (ns) => before.tenantsOf(ns)),
    // A breach is listed whole (as `verify` prints it) when any of its pods or ports is new to it.
    breaches: {
      added: after.breaches.filter((b) => exposesMore(b, oldExposure)),
      removed: before.breaches.filter((b) => exposesMore(b, newExposure)),
    },
  };
}
