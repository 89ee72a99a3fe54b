// Why one connection is allowed or denied: for each side (the source's egress, the destination's
// ingress) every policy that isolates it, and every rule of those policies whose peer matches the other
// end, with the ports it admits — the rules that admit the connection and those that would on another
// port. Same semantics as `decide` (the reference evaluator), which the tests hold it to.
import { parseIp } from '../net/cidr.ts';
import { IpBlockRegistry, compilePolicy, namespaceLabels, peerMatchesAddress, peerMatchesPod, selectsPod, type CompiledPolicy, type Labels } from './compile.ts';
import { podSubject } from './decide.ts';
import { formatPortSet, has, rulePorts } from './ports.ts';
import { EXTERNAL_REASON, HOST_NETWORK_REASON, isExternal, type Endpoint, type Protocol, type Snapshot } from './types.ts';
import { compareStrings } from '../policy/order.ts';

export interface RuleMatch {
  /** "ns/name" of the policy. */
  policy: string;
  /** Index of the rule in the policy's ingress or egress list. */
  rule: number;
  /** How the rule names the peer: every peer, or a peer entry that matches the other end. */
  peers: 'any' | 'matching';
  /** The ports the rule admits towards the destination, e.g. "TCP/8080" or "TCP/any, UDP/any". */
  ports: string;
  /** Whether the rule admits this connection's port; false = it would admit the peer on `ports`. */
  admits: boolean;
}

export interface SideExplanation {
  direction: 'egress' | 'ingress';
  /** "ns/name" or "external ADDRESS". */
  endpoint: string;
  /** Whether this side lets the connection through. */
  allowed: boolean;
  isolated: boolean;
  /** Every policy that selects the pod with this direction in its policyTypes, sorted. */
  isolatingPolicies: string[];
  /** Rules of those policies whose peer matches the other end (in policy then rule order). */
  rules: RuleMatch[];
  reason: string;
}

export interface Explanation {
  from: string;
  to: string;
  protocol: Protocol;
  port: number;
  allowed: boolean;
  egress: SideExplanation;
  ingress: SideExplanation;
}

const describe = (e: Endpoint): string => (isExternal(e) ? `external ${e.external}` : `${e.namespace}/${e.name}`);

function side(policies: readonly CompiledPolicy[], nsLabels: ReadonlyMap<string, Labels>, withoutIpAnywhere: boolean, direction: 'egress' | 'ingress', self: Endpoint, peer: Endpoint, port: number, protocol: Protocol): SideExplanation {
  const endpoint = describe(self);
  if (isExternal(self)) return { direction, endpoint, allowed: true, isolated: false, isolatingPolicies: [], rules: [], reason: EXTERNAL_REASON };
  if (self.hostNetwork) return { direction, endpoint, allowed: true, isolated: false, isolatingPolicies: [], rules: [], reason: HOST_NETWORK_REASON };
  const isolating = policies.filter((p) => (direction === 'ingress' ? p.ingressIsolates : p.egressIsolates) && selectsPod(p, self.namespace, self.labels ?? {}));
  const Dir = direction === 'ingress' ? 'Ingress' : 'Egress';
  if (isolating.length === 0) {
    return { direction, endpoint, allowed: true, isolated: false, isolatingPolicies: [], rules: [], reason: `no policy with ${Dir} in policyTypes selects ${endpoint}: not isolated for ${direction}` };
  }
  const destination = direction === 'ingress' ? self.containerPorts : isExternal(peer) ? undefined : peer.containerPorts;
  const peerSubject = isExternal(peer) ? undefined : podSubject(peer, nsLabels.get(peer.namespace), withoutIpAnywhere);
  const ip = isExternal(peer) ? parseIp(peer.external) : undefined;
  const rules: RuleMatch[] = [];
  for (const p of isolating) {
    for (const r of direction === 'ingress' ? p.ingress : p.egress) {
      if (r.peers && !r.peers.some((x) => (peerSubject ? peerMatchesPod(x, p.namespace, peerSubject) : peerMatchesAddress(x, ip)))) continue;
      const ports = rulePorts(r.ports, destination);
      rules.push({ policy: p.key, rule: r.index, peers: r.peers ? 'matching' : 'any', ports: formatPortSet(ports), admits: has(ports, protocol, port) });
    }
  }
  const isolatingPolicies = isolating.map((p) => p.key);
  const admitting = rules.filter((r) => r.admits);
  const reason = admitting.length > 0
    ? `allowed by ${admitting.map((r) => `${r.policy} ${direction} rule ${r.rule}`).join(', ')}`
    : rules.length > 0
      ? `isolated for ${direction}; rules match ${describe(peer)} but not ${protocol}/${port}`
      : `isolated for ${direction}; no rule matches ${describe(peer)}`;
  return { direction, endpoint, allowed: admitting.length > 0, isolated: true, isolatingPolicies, rules, reason };
}

/** Explains the connection from `src` to `dst` on `port`/`protocol` against a snapshot. */
export function explain(snapshot: Snapshot, src: Endpoint, dst: Endpoint, port: number, protocol: Protocol = 'TCP'): Explanation {
  const blocks = new IpBlockRegistry();
  const policies = snapshot.policies.map((p) => compilePolicy(p, blocks)).sort((a, b) => compareStrings(a.key, b.key));
  const nsLabels = new Map(snapshot.namespaces.map((n) => [n.name, namespaceLabels(n.name, n.labels)]));
  const egress = side(policies, nsLabels, snapshot.podsWithoutIpAnywhere === true, 'egress', src, dst, port, protocol);
  const ingress = side(policies, nsLabels, snapshot.podsWithoutIpAnywhere === true, 'ingress', dst, src, port, protocol);
  return { from: describe(src), to: describe(dst), protocol, port, allowed: egress.allowed && ingress.allowed, egress, ingress };
}
