// The breach computation: for one tenant, the paths that cross its boundary without being declared.
// Ports are handled as sets (see ports.ts), so "any port" and ranges are exact instead of probed. A
// tenant's result is kept in pieces, one per peer namespace (plus '' for outside the cluster), so an
// invalidation (dependencies.ts) recomputes only the pieces it touched.
import { cidrBoundaries, cidrEnd, parseIp } from '../net/cidr.ts';
import type { NetworkPort } from '../api/schema.ts';
import {
  blockContains, formatIp, peerMatchesAddress, peerMatchesPod, selectorPeerMatches,
  type CompiledIpBlock, type CompiledPeer, type ParsedIp,
} from './compile.ts';
import { Deps, type CachedResult, type DependencyTracker } from './dependencies.ts';
import type { ClusterModel, Direction, PodClass } from './model.ts';
import {
  ALL_PORTS, NO_PORTS, formatPortSet, intersect, isEmpty, range, ranges, rulePorts, subtract, union, type PortSet,
} from './ports.ts';
import type { DeclaredRule, TenantModel, TenantModels } from './tenant-model.ts';
import { HOST_NETWORK_REASON, type ContainerPort, type Protocol } from './types.ts';
import { compareStrings } from '../policy/order.ts';

/** Addresses that stand for "the internet" on top of those derived from ipBlocks. */
export const DEFAULT_EXTERNAL_SAMPLES: readonly string[] = ['8.8.8.8', '203.0.113.9'];

export interface Breach {
  tenant: string;
  direction: Direction;
  /** The tenant's pods ("ns/name", sorted) the path reaches (ingress) or leaves from (egress). */
  pods: string[];
  /** "ns/pod", "namespace ns" (every pod of that namespace) or "external 8.8.8.8". */
  peer: string;
  protocol: Protocol;
  /** First port of the breaching range; `endPort` is set when the range holds more than one port. */
  port: number;
  endPort?: number;
  /** The tenant-side policy ("ns/name") whose rule admits the path; null when the tenant pod is not isolated. */
  policy: string | null;
  message: string;
}

/** One tenant-side rule (or the implicit "not isolated" allow) with its precomputed ports when they do not depend on the destination. */
interface Entry { policy: string | null; rule: number; policyNamespace: string; peers: CompiledPeer[] | undefined; ports: readonly NetworkPort[] | undefined; fixed: PortSet | undefined }

/** One tenant pod class and direction, with its tenant-side rules (they change only with the tenant's own namespaces). */
interface Work { c: PodClass; dir: Direction; entries: Entry[] }

interface Pending { dir: Direction; local: PodClass; peerNs: string | undefined; peerLabel: string | undefined; protocol: Protocol; lo: number; hi: number; policy: string | null; classes: Set<PodClass>; why: string }

export interface TenantResult extends CachedResult {
  work: Work[];
  /** Pending breaches by peer namespace ('' = outside the cluster), each recomputable on its own. */
  pieces: Map<string, Map<string, Pending>>;
  /** Where a peer pod without an IP may be: one address per region of the tenant's ipBlocks, IPv6 too; made when first needed. */
  anywhere: ParsedIp[] | undefined;
  breaches: Breach[] | undefined;
}

const hasNamedPort = (ports: readonly NetworkPort[] | undefined): boolean => (ports ?? []).some((p) => typeof p.port === 'string');

/** Whether two rule lists are the same rules: same policy and rule, and the very same compiled peers and ports. */
function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.policy !== y.policy || x.rule !== y.rule || x.policyNamespace !== y.policyNamespace || x.peers !== y.peers || x.ports !== y.ports) return false;
  }
  return true;
}

export class BreachEngine {
  private readonly model: ClusterModel;
  private readonly tenants: TenantModels;
  private readonly tracker: DependencyTracker<TenantResult>;
  private readonly externalSamples: readonly string[];
  recomputations = 0;
  partialRecomputations = 0;

  constructor(model: ClusterModel, tenants: TenantModels, tracker: DependencyTracker<TenantResult>, externalSamples: readonly string[]) {
    this.model = model; this.tenants = tenants; this.tracker = tracker; this.externalSamples = externalSamples;
  }

  /**
   * Undeclared allowed paths across the tenant's boundary. Cached: a change in the tenant's own
   * namespaces or spec recomputes the tenant; a change elsewhere recomputes only the pairs with pods of
   * the namespace it happened in, and only for tenants whose result depended on that namespace.
   */
  breaches(tenant: string): Breach[] {
    const m = this.tenants.get(tenant);
    if (!m) return [];
    let r = this.tracker.results.get(tenant);
    if (!r) {
      this.recomputations++;
      r = this.computeTenant(m);
      this.tracker.results.set(tenant, r);
    } else {
      if (r.staleMembers) {
        this.recomputations++;
        this.recomputeMembers(m, r, r.staleMembers);
        r.staleMembers = undefined;
      }
      if (r.dirty) {
        for (const ns of r.dirty) { this.partialRecomputations++; this.computePiece(m, r, ns); }
        r.dirty = undefined;
      }
    }
    r.breaches ??= this.assemble(m, r);
    return r.breaches;
  }

  private computeTenant(m: TenantModel): TenantResult {
    const deps = new Deps(m.tenant.name, this.tracker);
    const work: Work[] = [];
    for (const ns of m.members) {
      for (const c of this.model.classesIn(ns)) for (const dir of ['ingress', 'egress'] as const) work.push({ c, dir, entries: this.entries(c, dir) });
    }
    const r: TenantResult = { tenant: m.tenant.name, deps, work, pieces: new Map(), anywhere: undefined, dirty: undefined, staleMembers: undefined, breaches: undefined };
    this.computeExternal(m, r);
    for (const [ns, perWork] of this.relevantNamespaces(m, work, deps)) this.computePiece(m, r, ns, perWork);
    return r;
  }

  private computeExternal(m: TenantModel, r: TenantResult): void {
    const external = new Map<string, Pending>();
    const samples = this.externalSamplesFor(m);
    r.anywhere = undefined; // its regions come from the same ipBlocks
    for (const w of r.work) this.externalBreaches(m, w, samples, external);
    if (external.size > 0) r.pieces.set('', external); else r.pieces.delete('');
  }

  /**
   * The policies of some of the tenant's own namespaces changed: only the work items of their classes are
   * redone (their contributions to every piece are dropped and recomputed); the other work items' contributions
   * do not depend on those policies (pairs within the tenant are never breaches). The external piece is redone
   * in full, since its samples come from the tenant's policies.
   */
  private recomputeMembers(m: TenantModel, r: TenantResult, stale: ReadonlySet<string>): void {
    const workKey = (c: PodClass, dir: Direction): string => `${dir}|${c.id}`;
    const old = new Map<string, Work>();
    for (const w of r.work) if (stale.has(w.c.namespace)) old.set(workKey(w.c, w.dir), w);
    const work = r.work.filter((w) => !stale.has(w.c.namespace));
    const fresh: Work[] = [];
    for (const ns of stale) {
      for (const c of this.model.classesIn(ns)) {
        for (const dir of ['ingress', 'egress'] as const) {
          const entries = this.entries(c, dir);
          const prev = old.get(workKey(c, dir));
          // Same rules (the very same compiled peers and ports): the work item's pairs are unchanged.
          if (prev && sameEntries(prev.entries, entries)) { old.delete(workKey(c, dir)); work.push(prev); continue; }
          const w: Work = { c, dir, entries };
          fresh.push(w);
          work.push(w);
        }
      }
    }
    r.work = work;
    // Drop the pairs of the work items that are redone or gone (`old` now holds only those).
    const redone = new Set([...old.keys(), ...fresh.map((w) => workKey(w.c, w.dir))]);
    if (redone.size > 0) {
      for (const [ns, piece] of r.pieces) {
        if (ns === '') continue;
        for (const [k, p] of piece) if (redone.has(workKey(p.local, p.dir))) piece.delete(k);
        if (piece.size === 0) r.pieces.delete(ns);
      }
    }
    this.computeExternal(m, r);
    for (const [ns, perWork] of this.relevantNamespaces(m, fresh, r.deps)) this.computePiece(m, r, ns, perWork, true);
  }

  /**
   * Namespaces holding a candidate peer of some work item (one piece per namespace is the unit of partial
   * recomputation), with which rules reached which namespace, so a piece only re-reads those rules.
   */
  private relevantNamespaces(m: TenantModel, work: readonly Work[], deps: Deps): Map<string, Map<Work, Set<number>>> {
    const relevant = new Map<string, Map<Work, Set<number>>>();
    const add = (ns: string, w: Work, i: number): void => {
      if (m.members.has(ns)) return; // intra-tenant: declared by definition
      let perWork = relevant.get(ns);
      if (!perWork) { perWork = new Map(); relevant.set(ns, perWork); }
      let set = perWork.get(w);
      if (!set) { set = new Set(); perWork.set(w, set); }
      set.add(i);
    };
    for (const w of work) {
      w.entries.forEach((e, i) => {
        if (e.fixed && isEmpty(e.fixed)) return;
        if (!e.peers) { deps.topoAll = true; for (const ns of this.model.classesByNs.keys()) add(ns, w, i); return; }
        let last: string | undefined;
        for (const s of this.model.candidates(e.peers, e.policyNamespace, deps)) if (s.namespace !== last) { last = s.namespace; add(last, w, i); }
      });
    }
    return relevant;
  }

  /**
   * Recomputes the pairs between the tenant's pods and the pods of one other namespace, reading every
   * tenant-side rule, or only `only` (the rules known to reach the namespace). With `merge`, the pairs of
   * `only`'s work items are added to the existing piece (whose other work items' pairs are kept).
   */
  private computePiece(m: TenantModel, r: TenantResult, ns: string, only?: Map<Work, Set<number>>, merge = false): void {
    if (m.members.has(ns)) return;
    const piece = (merge ? r.pieces.get(ns) : undefined) ?? new Map<string, Pending>();
    for (const w of only ? only.keys() : r.work) {
      const byPeer = new Map<PodClass, number[]>();
      const indexes = only?.get(w) ?? w.entries.keys();
      for (const i of indexes) {
        const e = w.entries[i]!;
        if (e.fixed && isEmpty(e.fixed)) continue;
        for (const s of this.model.candidatesIn(e.peers, e.policyNamespace, ns, r.deps)) {
          let list = byPeer.get(s);
          if (!list) { list = []; byPeer.set(s, list); }
          list.push(i);
        }
      }
      if (byPeer.size > 0) this.peerBreaches(m, w, byPeer, r, piece);
    }
    if (piece.size > 0) r.pieces.set(ns, piece); else r.pieces.delete(ns);
  }

  /** Splits a breaching port set among the admitting tenant-side rules (first rule first) and records it. */
  private record(w: Work, pending: Map<string, Pending>, peer: PodClass | string, breach: PortSet, admitting: readonly number[], portsOf: (e: Entry) => PortSet, why: string): void {
    let covered = NO_PORTS;
    for (const i of admitting) {
      const e = w.entries[i]!;
      const part = subtract(intersect(portsOf(e), breach), covered);
      if (isEmpty(part)) continue;
      covered = union(covered, part);
      const peerNs = typeof peer === 'string' ? undefined : peer.namespace;
      for (const { protocol, lo, hi } of ranges(part)) {
        const key = `${w.dir}|${w.c.id}|${peerNs ?? `x:${peer as string}`}|${protocol}|${lo}|${hi}|${e.policy ?? ''}`;
        let pend = pending.get(key);
        if (!pend) {
          pend = { dir: w.dir, local: w.c, peerNs, peerLabel: typeof peer === 'string' ? peer : undefined, protocol, lo, hi, policy: e.policy, classes: new Set(), why };
          pending.set(key, pend);
        }
        if (typeof peer !== 'string') pend.classes.add(peer);
      }
    }
  }

  /** Pods of other tenants and of non-tenant namespaces: both sides' policies apply. */
  private peerBreaches(m: TenantModel, w: Work, byPeer: Map<PodClass, number[]>, r: TenantResult, pending: Map<string, Pending>): void {
    const { c, dir, entries } = w;
    const deps = r.deps;
    const declaredRules = dir === 'ingress' ? m.ingress : m.egress;
    const other = dir === 'ingress' ? 'egress' : 'ingress';
    for (const [peer, admitting] of byPeer) {
      // What the tenant declares depends on the peer namespace's labels (its selectors), even when the peer
      // was found through an ipBlock: a label change there must recompute this piece.
      deps.enumeratedNamespace(peer.namespace);
      if (peer.anyAddress) { this.anyAddressBreaches(m, w, peer, admitting, r, pending); continue; }
      const destination = dir === 'ingress' ? c.containerPorts : peer.containerPorts;
      const portsOf = (e: Entry): PortSet => e.fixed ?? rulePorts(e.ports, destination);
      let tenantSide = NO_PORTS;
      for (const i of admitting) tenantSide = union(tenantSide, portsOf(entries[i]!));
      const rest = subtract(tenantSide, declaredPorts(declaredRules, c.namespace, peer, destination));
      if (isEmpty(rest)) continue;
      deps.usesPoliciesOf(peer.namespace);
      const breach = intersect(rest, this.model.sidePorts(peer, other, c, destination));
      if (isEmpty(breach)) continue;
      this.record(w, pending, peer, breach, admitting, portsOf, this.peerWhy(peer, other));
    }
  }

  /**
   * A peer without an IP may be at any address: the tenant's rules and declarations that match it by ipBlock
   * are read at one address of every region their ipBlocks cut the space into, and a port is a breach where
   * some address leaves it undeclared (a declared ipBlock covers the peer only where it could hold it).
   */
  private anyAddressBreaches(m: TenantModel, w: Work, peer: PodClass, admitting: readonly number[], r: TenantResult, pending: Map<string, Pending>): void {
    const { c, dir, entries } = w;
    const declaredRules = dir === 'ingress' ? m.ingress : m.egress;
    const other = dir === 'ingress' ? 'egress' : 'ingress';
    const destination = dir === 'ingress' ? c.containerPorts : peer.containerPorts;
    const portsOf = (e: Entry): PortSet => e.fixed ?? rulePorts(e.ports, destination);
    const matchesAt = (e: Entry, ip: ParsedIp): boolean => !e.peers || e.peers.some((p) => (p.kind === 'ipBlock' ? peerMatchesAddress(p, ip) : peerMatchesPod(p, e.policyNamespace, peer)));
    r.anywhere ??= this.externalSamplesFor(m, true);
    // The breaching ports per admitting rule, gathered over every address: attribution does not depend on their order.
    const parts = new Map<Entry, PortSet>();
    let breach = NO_PORTS;
    let peerSide: PortSet | undefined;
    for (const ip of r.anywhere) {
      const here = admitting.filter((i) => matchesAt(entries[i]!, ip));
      let tenantSide = NO_PORTS;
      for (const i of here) tenantSide = union(tenantSide, portsOf(entries[i]!));
      const rest = subtract(tenantSide, declaredPorts(declaredRules, c.namespace, peer, destination, ip));
      if (isEmpty(rest)) continue;
      if (peerSide === undefined) { r.deps.usesPoliciesOf(peer.namespace); peerSide = this.model.sidePorts(peer, other, c, destination); }
      const open = intersect(rest, peerSide);
      if (isEmpty(open)) continue;
      breach = union(breach, open);
      for (const i of here) { const e = entries[i]!; parts.set(e, union(parts.get(e) ?? NO_PORTS, intersect(portsOf(e), open))); }
    }
    if (!isEmpty(breach)) this.record(w, pending, peer, breach, admitting, (e) => parts.get(e) ?? NO_PORTS, this.peerWhy(peer, other));
  }

  private peerWhy(peer: PodClass, other: Direction): string {
    return peer.hostNetwork ? `the peer is hostNetwork (${HOST_NETWORK_REASON})` : this.model.isolated(peer, other) ? `the peer's ${other} policies admit it` : `the peer is not isolated for ${other}`;
  }

  /** Outside the cluster: only the tenant side's policies apply. */
  private externalBreaches(m: TenantModel, w: Work, samples: readonly ParsedIp[], pending: Map<string, Pending>): void {
    const { c, dir, entries } = w;
    const declaredRules = dir === 'ingress' ? m.ingress : m.egress;
    const destination = dir === 'ingress' ? c.containerPorts : undefined;
    const portsOf = (e: Entry): PortSet => e.fixed ?? rulePorts(e.ports, destination);
    for (const ip of samples) {
      const admitting: number[] = [];
      entries.forEach((e, i) => { if (!e.peers || e.peers.some((p) => peerMatchesAddress(p, ip))) admitting.push(i); });
      if (admitting.length === 0) continue;
      let tenantSide = NO_PORTS;
      for (const i of admitting) tenantSide = union(tenantSide, portsOf(entries[i]!));
      const breach = subtract(tenantSide, declaredPorts(declaredRules, c.namespace, ip, destination));
      if (!isEmpty(breach)) this.record(w, pending, `external ${formatIp(ip.family, ip.value)}`, breach, admitting, portsOf, 'outside the cluster nothing else filters it');
    }
  }

  private assemble(m: TenantModel, r: TenantResult): Breach[] {
    const breaches: Breach[] = [];
    for (const piece of r.pieces.values()) {
      for (const p of piece.values()) {
        const base = { tenant: m.tenant.name, direction: p.dir, protocol: p.protocol, port: p.lo, ...(p.hi > p.lo ? { endPort: p.hi } : {}), policy: p.policy };
        const pods = [...p.local.pods.keys()].sort();
        const ports = formatPortSet(range(p.protocol, p.lo, p.hi));
        const msg = (peer: string): string => {
          const path = p.dir === 'ingress' ? `${peer} -> ${pods.join(', ')}` : `${pods.join(', ')} -> ${peer}`;
          const side = p.policy ? `${p.policy} admits it` : `the tenant pod is not isolated for ${p.dir}`;
          const decl = p.dir === 'ingress' ? 'spec.allow.ingressFrom' : 'spec.dns or spec.allow.egressTo';
          return `${p.dir} ${path} on ${ports}: ${side}, ${p.why}, and ${decl} does not declare it`;
        };
        if (p.peerLabel !== undefined) { breaches.push({ ...base, pods, peer: p.peerLabel, message: msg(p.peerLabel) }); continue; }
        const ns = p.peerNs!;
        r.deps.enumeratedNamespace(ns); // whether the label is "namespace X" depends on X's other classes
        if (p.classes.size === this.model.classesIn(ns).size) {
          const label = `namespace ${ns}`;
          breaches.push({ ...base, pods, peer: label, message: msg(label) });
          continue;
        }
        for (const c of p.classes) for (const pod of c.pods.keys()) breaches.push({ ...base, pods, peer: pod, message: msg(pod) });
      }
    }
    breaches.sort((a, b) => compareStrings(a.direction, b.direction) || compareStrings(a.pods[0] ?? '', b.pods[0] ?? '') || compareStrings(a.peer, b.peer) || compareStrings(a.protocol, b.protocol) || a.port - b.port);
    return breaches;
  }

  private entries(c: PodClass, direction: Direction): Entry[] {
    if (!this.model.isolated(c, direction)) return [{ policy: null, rule: -1, policyNamespace: c.namespace, peers: undefined, ports: undefined, fixed: ALL_PORTS }];
    const out: Entry[] = [];
    for (const p of this.model.selected(c)[direction]) {
      for (const r of (direction === 'ingress' ? p.ingress : p.egress)) {
        const fixed = direction === 'ingress' ? rulePorts(r.ports, c.containerPorts) : hasNamedPort(r.ports) ? undefined : rulePorts(r.ports, undefined);
        out.push({ policy: p.key, rule: r.index, policyNamespace: p.namespace, peers: r.peers, ports: r.ports, fixed });
      }
    }
    return out;
  }

  /** `anyFamily`: IPv6 as well whatever the tenant's pods and blocks (where a pod without an IP may be). */
  private externalSamplesFor(m: TenantModel, anyFamily = false): ParsedIp[] {
    const blocks: CompiledIpBlock[] = [];
    for (const ns of m.members) {
      for (const p of this.model.policiesIn(ns)) {
        for (const r of [...p.ingress, ...p.egress]) for (const peer of r.peers ?? []) if (peer.kind === 'ipBlock') blocks.push(peer.block);
      }
    }
    for (const r of [...m.ingress, ...m.egress]) if (r.block) blocks.push(r.block);
    const out = new Map<string, ParsedIp>();
    const add = (ip: ParsedIp): void => { out.set(`${ip.family}/${ip.value}`, ip); };
    for (const s of this.externalSamples) { const ip = parseIp(s); if (ip) add(ip); }
    // The start of every region the ipBlocks cut the address space into: each ipBlock's inside,
    // its exceptions and the space right after each is probed, so verdicts cannot differ inside a region.
    const cidrs = blocks.flatMap((b) => (b.cidr ? [b.cidr, ...b.except] : []));
    for (const c of cidrs) for (const ip of cidrBoundaries(c)) add(ip);
    const ranges = cidrs.map((c) => ({ family: c.family, base: c.base, end: cidrEnd(c) }));
    // And the space's own start, where no sample lies in its region yet (0.0.0.0/5 when only 8.0.0.0/5 and
    // up are named). IPv6 only where the tenant's pods have IPv6 addresses or a block is IPv6: an IPv4-only
    // cluster has no IPv6 path to report.
    const region = (ip: ParsedIp): string => `${ip.family}:${ranges.filter((r) => r.family === ip.family && r.base <= ip.value && ip.value < r.end).map((r) => `${r.base}-${r.end}`).sort().join(',')}`;
    const sampled = new Set([...out.values()].map(region));
    const starts: ParsedIp[] = [{ family: 4, value: 0n }];
    if (anyFamily || ranges.some((r) => r.family === 6) || this.hasIpv6Pod(m)) starts.push({ family: 6, value: 0n });
    for (const start of starts) if (!sampled.has(region(start))) add(start);
    return [...out.values()];
  }

  private hasIpv6Pod(m: TenantModel): boolean {
    for (const ns of m.members) {
      // A class's pods share their address families (the class key holds them). One without an IP brings no
      // IPv6 sample: a cluster is taken to be IPv4 until a pod or a block says otherwise.
      for (const c of this.model.classesIn(ns)) if (c.pods.values().next().value?.ips.some((ip) => ip.family === 6)) return true;
    }
    return false;
  }
}

/** Ports the tenant declares towards/from a peer class or address; `at`: the peer class taken to be at that address. */
function declaredPorts(rules: readonly DeclaredRule[], localNs: string, peer: PodClass | ParsedIp, destination: readonly ContainerPort[] | undefined, at?: ParsedIp): PortSet {
  let out = NO_PORTS;
  if ('value' in peer) {
    for (const r of rules) if (r.block !== undefined && blockContains(r.block, peer)) out = union(out, rulePorts(r.ports, destination));
    return out;
  }
  for (const r of rules) {
    if (!r.block && (r.namespaceSelector !== undefined || r.podSelector !== undefined) && selectorPeerMatches(r.namespaceSelector, r.podSelector, localNs, peer)) out = union(out, rulePorts(r.ports, destination));
  }
  if (at) {
    for (const r of rules) if (r.block !== undefined && blockContains(r.block, at)) out = union(out, rulePorts(r.ports, destination));
    return out;
  }
  // ipBlocks cover a pod's traffic on the ports declared for every one of its addresses (any of them may carry it).
  let byAddress: PortSet | undefined;
  for (const ids of peer.addressBlocks) {
    let ports = NO_PORTS;
    for (const r of rules) if (r.block && ids.has(r.block.id)) ports = union(ports, rulePorts(r.ports, destination));
    byAddress = byAddress === undefined ? ports : intersect(byAddress, ports);
  }
  return byAddress === undefined ? out : union(out, byAddress);
}
