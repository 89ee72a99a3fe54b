// What kube-router v2.1.0's network policy controller enforces, as a function of the stored objects:
// its iptables/ipset program (pkg/controllers/netpol/{policy,pod}.go) re-stated as a predicate, with
// each place where it departs from the networking.k8s.io/v1 semantics behind a named switch. With no
// switch on it is the API's semantics; with all on it must equal the packets (the differential test
// asserts both; for the one divergence that depends on kube-router's map iteration order, the packets
// must lie between the model without it and the model with its widest effect), so every disagreement between the analyzer and the dataplane is attributed to one
// documented divergence (docs/dataplane.md) or fails the test.
import { ipInCidr } from '../../src/net/cidr.ts';
import { matchesSelector } from '../../src/policy/selector.ts';
import type { LabelSelector } from '../../src/api/schema.ts';

const REF = 'https://github.com/cloudnativelabs/kube-router/blob/v2.1.0/pkg/controllers/netpol';

/** kube-router's departures from the API, each with where it comes from. */
export const DIVERGENCES = {
  bothTypesCrossDirection: {
    summary: 'A policy with both policyTypes is jumped to for all traffic of its pods, so its ingress rules also admit egress from one selected pod to another selected pod (and its egress rules admit ingress).',
    source: `${REF}/pod.go#L196-L199 (kubeBothPolicyType: a jump without -s/-d), ${REF}/policy.go#L180-L340 (ingress rules match "dst in the policy's pods", whichever pod's chain runs them)`,
  },
  unresolvedNamedPortOpensAllPorts: {
    summary: 'A rule with pod peers whose ports are only named ports that no relevant pod declares admits every port to or from those peers (the API admits none).',
    source: `${REF}/policy.go#L237 and #L394 ("no ports at all" is tested after the named ports were resolved away)`,
  },
  namedPortEndpointAliasing: {
    summary: 'The pods a named port resolves to are kept in a map shared by every named port of the first pod that declared it, so a named port can also admit pods that declare another of that pod\'s ports (which ones depends on informer order).',
    source: `${REF}/policy.go#L859-L893 (grabNamedPortFromPod: one ips map per pod, appended to through any endpoint that pod created)`,
  },
  egressNamedPortWithoutPeers: {
    summary: 'An egress rule without `to` and with a named port resolves the name on pods of the policy\'s own namespace, then admits that number to every destination (the API resolves it on each destination pod).',
    source: `${REF}/policy.go#L639-L650 and #L408-L425`,
  },
  egressIpBlockIgnoresNamedPorts: {
    summary: 'An egress ipBlock peer with ports admits only the numeric ports; named ports add nothing (the API resolves them on the destination pod).',
    source: `${REF}/policy.go#L439-L452`,
  },
  ipBlockExceptAcrossPeers: {
    summary: 'All ipBlock peers of one rule share one hash:net ipset, so one block\'s `except` (a nomatch entry) also removes those addresses from the other blocks of the rule.',
    source: `${REF}/policy.go#L292-L295, #L439-L441 (one set per rule) and #L794-L857 (except entries as nomatch)`,
  },
} as const;
export type Divergence = keyof typeof DIVERGENCES;
export const ALL_DIVERGENCES = Object.keys(DIVERGENCES) as Divergence[];

export interface MPod { namespace: string; name: string; labels: Record<string, string>; ip: string; containerPorts: { name?: string; containerPort: number; protocol?: string }[] }
export interface MNamespace { name: string; labels: Record<string, string> }
interface MPort { protocol?: string; port?: number | string; endPort?: number }
interface MPeer { podSelector?: LabelSelector; namespaceSelector?: LabelSelector; ipBlock?: { cidr: string; except?: string[] } }
interface MRule { peers?: MPeer[]; ports?: MPort[] }
export interface MPolicy {
  metadata: { namespace: string; name: string };
  spec: { podSelector?: LabelSelector; policyTypes?: string[]; ingress?: { from?: MPeer[]; ports?: MPort[] }[]; egress?: { to?: MPeer[]; ports?: MPort[] }[] };
}
export interface MWorld { namespaces: MNamespace[]; pods: MPod[]; policies: MPolicy[] }
export interface Conn { src: MPod; dst: MPod; protocol: string; port: number }

const proto = (p: MPort): string => p.protocol ?? 'TCP';
const isNamed = (p: MPort): boolean => typeof p.port === 'string';
const numericAdmits = (p: MPort, c: Conn): boolean => proto(p) === c.protocol
  && (p.port === undefined || (c.port >= (p.port as number) && c.port <= (p.endPort ?? (p.port as number))));
/** The number a named port resolves to on `pod`, or undefined. */
const resolve = (pod: MPod, p: MPort): number | undefined => pod.containerPorts.find((cp) => cp.name === p.port && (cp.protocol ?? 'TCP') === proto(p))?.containerPort;

function types(p: MPolicy): { ingress: boolean; egress: boolean } {
  const t = p.spec.policyTypes;
  if (!t || t.length === 0) return { ingress: true, egress: (p.spec.egress ?? []).length > 0 };
  return { ingress: t.includes('Ingress'), egress: t.includes('Egress') };
}
const selects = (p: MPolicy, pod: MPod): boolean => pod.namespace === p.metadata.namespace && matchesSelector(pod.labels, p.spec.podSelector ?? {});

function peerPods(w: MWorld, p: MPolicy, peer: MPeer): MPod[] {
  if (peer.ipBlock) return [];
  if (peer.namespaceSelector) {
    const nss = new Set(w.namespaces.filter((n) => matchesSelector({ ...n.labels, 'kubernetes.io/metadata.name': n.name }, peer.namespaceSelector!)).map((n) => n.name));
    return w.pods.filter((pod) => nss.has(pod.namespace) && (!peer.podSelector || matchesSelector(pod.labels, peer.podSelector)));
  }
  if (peer.podSelector) return w.pods.filter((pod) => pod.namespace === p.metadata.namespace && matchesSelector(pod.labels, peer.podSelector!));
  return [];
}

/** IPv4 longest-prefix match over one rule's ipBlock entries (kube-router's hash:net set with nomatch). */
function inIpBlocks(ip: string, blocks: { cidr: string; except?: string[] }[], merged: boolean): boolean {
  if (!merged) return blocks.some((b) => ipInCidr(ip, b.cidr) && !(b.except ?? []).some((e) => ipInCidr(ip, e)));
  let best: { prefix: number; match: boolean } | undefined;
  const consider = (cidr: string, match: boolean): void => {
    if (!ipInCidr(ip, cidr)) return;
    const prefix = Math.max(1, Number(cidr.split('/')[1]));   // /0 is stored as two /1 entries
    if (!best || prefix >= best.prefix) best = { prefix, match };
  };
  // Added in kube-router's order (each block's cidr, then its excepts); re-adding a cidr replaces its flag.
  for (const b of blocks) {
    consider(b.cidr, true);
    for (const e of b.except ?? []) consider(e, false);
  }
  return best?.match === true;
}

/**
 * With the aliasing, the most a named port can resolve to: besides the pods declaring it (name, protocol
 * and this number), any pod that shares another declared port with one of them (that pod, processed
 * first, created both endpoints with its own ips map; the other pod's address was appended through the
 * second). An upper bound: which pod is first depends on map iteration order inside kube-router.
 */
function aliased(candidates: MPod[], x: MPort, c: Conn): boolean {
  const keys = (pod: MPod): string[] => pod.containerPorts.map((cp) => `${cp.name ?? ''}/${cp.protocol ?? 'TCP'}/${cp.containerPort}`);
  const mine = new Set(keys(c.dst));
  return candidates.some((p) => p !== c.dst && resolve(p, x) === c.port && keys(p).some((k) => mine.has(k)));
}

/**
 * Whether one rule of `p` admits the connection, in the rule's own direction: an ingress rule sees
 * the destination as one of p's pods, an egress rule the source.
 */
function ruleAdmits(w: MWorld, p: MPolicy, dir: 'ingress' | 'egress', rule: MRule, c: Conn, on: ReadonlySet<Divergence>): boolean {
  const own = dir === 'ingress' ? c.dst : c.src;      // the pod the policy selects
  const peer = dir === 'ingress' ? c.src : c.dst;
  if (!selects(p, own)) return false;
  const ports = rule.ports ?? [];
  const peers = rule.peers ?? [];
  const numeric = ports.filter((x) => !isNamed(x));
  const named = ports.filter(isNamed);
  // Named ports are resolved on the destination: for ingress on p's own pods, for egress on the peer pods.
  const namedAdmits = (candidates: MPod[]): boolean => named.some((x) => proto(x) === c.protocol && candidates.includes(c.dst)
    && (resolve(c.dst, x) === c.port || (on.has('namedPortEndpointAliasing') && aliased(candidates, x, c))));
  const resolvesAnywhere = (candidates: MPod[]): boolean => named.some((x) => candidates.some((pod) => resolve(pod, x) !== undefined));
  const portsAdmit = (namedCandidates: MPod[]): boolean => ports.length === 0 || numeric.some((x) => numericAdmits(x, c)) || namedAdmits(namedCandidates);
  const targets = w.pods.filter((pod) => selects(p, pod));

  if (peers.length === 0) {
    if (dir === 'egress' && named.length > 0 && on.has('egressNamedPortWithoutPeers')) {
      const local = w.pods.filter((pod) => pod.namespace === p.metadata.namespace);
      return numeric.some((x) => numericAdmits(x, c)) || named.some((x) => proto(x) === c.protocol && local.some((pod) => resolve(pod, x) === c.port));
    }
    return portsAdmit(dir === 'ingress' ? targets : w.pods);
  }
  const selectorPeers = peers.filter((x) => !x.ipBlock);
  const matched = [...new Set(selectorPeers.flatMap((x) => peerPods(w, p, x)))];
  if (matched.includes(peer)) {
    const namedCandidates = dir === 'ingress' ? targets : matched;
    if (ports.length > 0 && numeric.length === 0 && !resolvesAnywhere(namedCandidates) && on.has('unresolvedNamedPortOpensAllPorts')) return true;
    if (portsAdmit(namedCandidates)) return true;
  }
  const blocks = peers.filter((x) => x.ipBlock).map((x) => x.ipBlock!);
  if (blocks.length > 0 && inIpBlocks(peer.ip, blocks, on.has('ipBlockExceptAcrossPeers'))) {
    if (dir === 'egress' && on.has('egressIpBlockIgnoresNamedPorts')) return ports.length === 0 || numeric.some((x) => numericAdmits(x, c));
    return portsAdmit(dir === 'ingress' ? targets : w.pods);
  }
  return false;
}

const rulesOf = (p: MPolicy, dir: 'ingress' | 'egress'): MRule[] => (dir === 'ingress'
  ? (p.spec.ingress ?? []).map((r) => ({ peers: r.from, ports: r.ports }))
  : (p.spec.egress ?? []).map((r) => ({ peers: r.to, ports: r.ports })));

/** One side: the source's egress (its pod chain) or the destination's ingress. */
function sideAllows(w: MWorld, side: 'ingress' | 'egress', c: Conn, on: ReadonlySet<Divergence>): boolean {
  const self = side === 'ingress' ? c.dst : c.src;
  const selecting = w.policies.filter((p) => selects(p, self) && types(p)[side]);
  if (selecting.length === 0) return true;
  if (selecting.some((p) => rulesOf(p, side).some((r) => ruleAdmits(w, p, side, r, c, on)))) return true;
  if (on.has('bothTypesCrossDirection')) {
    const other = side === 'ingress' ? 'egress' : 'ingress';
    return selecting.some((p) => types(p)[other] && rulesOf(p, other).some((r) => ruleAdmits(w, p, other, r, c, on)));
  }
  return false;
}

export function modelAllows(w: MWorld, c: Conn, on: ReadonlySet<Divergence>): boolean {
  return sideAllows(w, 'egress', c, on) && sideAllows(w, 'ingress', c, on);
}
