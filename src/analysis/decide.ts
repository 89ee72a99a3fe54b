// The reference evaluator: one connection, one port, straight from the NetworkPolicy semantics with no
// caching beyond the compiled snapshot. The incremental analyzer is tested against it.
import { parseIp } from '../net/cidr.ts';
import {
  IpBlockRegistry, compilePolicy, namespaceLabels, parseIps, peerMatchesAddress, peerMatchesPod, podInBlock, selectsPod,
  type CompiledPolicy, type CompiledRule, type Labels, type PodSubject,
} from './compile.ts';
import { formatPortSet, has, range, rulePorts } from './ports.ts';
import {
  EXTERNAL_REASON, HOST_NETWORK_REASON, isExternal,
  type Decision, type DirectionVerdict, type Endpoint, type PodInfo, type Protocol, type Snapshot,
} from './types.ts';
import { compareStrings } from '../policy/order.ts';

interface SnapshotIndex { namespaceLabels: Map<string, Labels>; policies: CompiledPolicy[]; withoutIpAnywhere: boolean }

const indexes = new WeakMap<Snapshot, SnapshotIndex>();

/** Compiled once per snapshot object (a snapshot is treated as immutable once passed in). */
function indexOf(snapshot: Snapshot): SnapshotIndex {
  let ix = indexes.get(snapshot);
  if (!ix) {
    const blocks = new IpBlockRegistry();
    ix = {
      namespaceLabels: new Map(snapshot.namespaces.map((n) => [n.name, namespaceLabels(n.name, n.labels)])),
      policies: snapshot.policies.map((p) => compilePolicy(p, blocks)).sort((a, b) => compareStrings(a.key, b.key)),
      withoutIpAnywhere: snapshot.podsWithoutIpAnywhere === true,
    };
    indexes.set(snapshot, ix);
  }
  return ix;
}

export function podSubject(pod: PodInfo, nsLabels: Labels | undefined, withoutIpAnywhere = false): PodSubject {
  const ips = parseIps(pod.ips);
  return {
    namespace: pod.namespace,
    namespaceLabels: nsLabels ?? namespaceLabels(pod.namespace, undefined),
    labels: pod.labels ?? {},
    inBlock: (b) => podInBlock(b, ips, withoutIpAnywhere),
  };
}

export const describeEndpoint = (e: Endpoint): string => (isExternal(e) ? `external ${e.external}` : `${e.namespace}/${e.name}`);

const externalVerdict = (): DirectionVerdict => ({ allowed: true, isolated: false, isolatingPolicies: [], reason: EXTERNAL_REASON });
const hostNetworkVerdict = (): DirectionVerdict => ({ allowed: true, isolated: false, isolatingPolicies: [], reason: HOST_NETWORK_REASON });

function ruleAdmits(rule: CompiledRule, policyNamespace: string, peer: Endpoint, peerSubject: PodSubject | undefined, destinationPorts: PodInfo['containerPorts'] | undefined, port: number, protocol: Protocol): boolean {
  if (!has(rulePorts(rule.ports, destinationPorts), protocol, port)) return false;
  if (!rule.peers) return true;
  const ip = isExternal(peer) ? parseIp(peer.external) : undefined;
  return rule.peers.some((p) => (peerSubject ? peerMatchesPod(p, policyNamespace, peerSubject) : peerMatchesAddress(p, ip)));
}

function sideVerdict(ix: SnapshotIndex, direction: 'ingress' | 'egress', self: PodInfo, peer: Endpoint, port: number, protocol: Protocol): DirectionVerdict {
  if (self.hostNetwork) return hostNetworkVerdict();
  const Dir = direction === 'ingress' ? 'Ingress' : 'Egress';
  const labels = self.labels ?? {};
  const isolating = ix.policies.filter((p) => (direction === 'ingress' ? p.ingressIsolates : p.egressIsolates) && selectsPod(p, self.namespace, labels));
  if (isolating.length === 0) {
    return { allowed: true, isolated: false, isolatingPolicies: [], reason: `not selected by any policy with ${Dir} in policyTypes: not isolated for ${direction}` };
  }
  const isolatingPolicies = isolating.map((p) => p.key);
  const destinationPorts = direction === 'ingress' ? self.containerPorts : isExternal(peer) ? undefined : peer.containerPorts;
  const peerSubject = isExternal(peer) ? undefined : podSubject(peer, ix.namespaceLabels.get(peer.namespace), ix.withoutIpAnywhere);
  for (const p of isolating) {
    for (const r of direction === 'ingress' ? p.ingress : p.egress) {
      if (ruleAdmits(r, p.namespace, peer, peerSubject, destinationPorts, port, protocol)) {
        return { allowed: true, isolated: true, isolatingPolicies, allowedBy: { policy: p.key, rule: r.index }, reason: `allowed by ${p.key} ${direction} rule ${r.index}` };
      }
    }
  }
  const what = formatPortSet(range(protocol, port, port));
  return {
    allowed: false, isolated: true, isolatingPolicies,
    reason: `isolated for ${direction} by ${isolatingPolicies.join(', ')}; no rule admits ${describeEndpoint(peer)} on ${what}`,
  };
}

/**
 * Whether a connection from `src` to `dst` on `port`/`protocol` is allowed: the source's egress AND the
 * destination's ingress must both admit it. An external endpoint's side is not subject to policies.
 */
export function decide(snapshot: Snapshot, src: Endpoint, dst: Endpoint, port: number, protocol: Protocol = 'TCP'): Decision {
  const ix = indexOf(snapshot);
  const egress = isExternal(src) ? externalVerdict() : sideVerdict(ix, 'egress', src, dst, port, protocol);
  const ingress = isExternal(dst) ? externalVerdict() : sideVerdict(ix, 'ingress', dst, src, port, protocol);
  return { allowed: egress.allowed && ingress.allowed, egress, ingress };
}
