// The cluster as the analyzer sees it: namespaces with a label index, pods grouped into classes, compiled
// policies by namespace, and every ipBlock anything mentions. Pods are grouped into classes (same
// namespace, labels, container ports, hostNetwork, address families and set of known ipBlocks their IPs
// fall in): every pod of a class gets the same verdicts, so the work scales with classes, not pods.
// The model answers two questions — which classes can a peer match, what does one side admit — and
// records into a Deps what each answer depended on; it tells its ModelListener what changed.
import { NamespaceLabelIndex } from '../policy/namespace-labels.ts';
import { matchesSelector } from '../policy/selector.ts';
import {
  IpBlockRegistry, blockContains, blockMatchesAny, compilePolicy, mayHoldAnyPod, namespaceLabels, parseIps, peerMatchesPod, policyKey, selectsPod,
  type CompiledIpBlock, type CompiledPeer, type CompiledPolicy, type Labels, type ParsedIp, type PodSubject,
} from './compile.ts';
import type { Deps } from './dependencies.ts';
import { ALL_PORTS, NO_PORTS, rulePorts, union, type PortSet } from './ports.ts';
import type { ContainerPort, NamespaceInfo, PodInfo, PolicyInput } from './types.ts';
import { compareStrings } from '../policy/order.ts';

export type Direction = 'ingress' | 'egress';

export interface PodRecord { key: string; info: PodInfo; ips: ParsedIp[]; cls: PodClass }

export interface PodClass extends PodSubject {
  id: number;
  key: string;
  namespace: string;
  namespaceLabels: Labels;
  labels: Labels;
  containerPorts: readonly ContainerPort[];
  hostNetwork: boolean;
  /** Its pods have no IP (pending, or manifests without status): each may have any address, so any ipBlock may hold it. */
  anyAddress: boolean;
  blocks: ReadonlySet<number>;
  /**
   * Per address of its pods, the blocks containing that address: a declaration covers a pod's traffic
   * only where it covers every address (a dual-stack pod reached over IPv4 is not covered by an IPv6 block).
   * One set, the same as `blocks`, for pods with one address.
   */
  addressBlocks: readonly ReadonlySet<number>[];
  pods: Map<string, PodRecord>;
  /** Policies selecting the class, by direction, sorted by key; undefined until first needed. */
  selected: { ingress: CompiledPolicy[]; egress: CompiledPolicy[] } | undefined;
}

/** What the model tells whoever caches results computed from it. */
export interface ModelListener {
  /** A namespace's labels changed; `hasPods` says whether any verdict could have changed with them. */
  namespaceRelabelled(name: string, labels: Labels, hasPods: boolean): void;
  /** A class gained or lost pods (or appeared / vanished). */
  topologyChanged(cls: PodClass): void;
  /** The policies of a namespace changed. */
  policiesChanged(namespace: string): void;
  /**
   * The namespace is gone (deleted, its last pod too): no verdict reads its policies any more (while it
   * exists, even empty, a sample stands for the pods it may get), until it comes back.
   */
  namespaceGone(namespace: string): void;
}

interface PeerSet { classes: PodClass[]; namespaces: string[] }

/** A label set as a string that is equal for equal sets, whatever the key order. */
export const labelsKey = (o: Readonly<Record<string, string>> | undefined): string => JSON.stringify(Object.entries(o ?? {}).sort(([a], [b]) => compareStrings(a, b)));
const frozenOr = <T extends object>(v: T, copy: (v: T) => T): T => (Object.isFrozen(v) ? v : copy(v));

export class ClusterModel {
  readonly blocks = new IpBlockRegistry();
  private readonly pendingBlocks: CompiledIpBlock[] = [];

  /** Explicit namespaces plus implicit ones (pods whose namespace is unknown), with effective labels. */
  readonly namespaces = new NamespaceLabelIndex();
  /** The namespaces that were given (not only implied by their pods). */
  readonly explicitNamespaces = new Set<string>();

  readonly pods = new Map<string, PodRecord>();
  readonly classes = new Map<string, PodClass>();
  readonly classesByNs = new Map<string, Set<PodClass>>();
  private readonly classesByBlock = new Map<number, Set<PodClass>>();
  /** Classes of pods without an IP: candidates of every ipBlock. */
  private readonly anyAddressClasses = new Set<PodClass>();
  private nextClassId = 0;

  /** Compiled rules by spec object: callers that share equal specs (the operator's cache does) share these too. */
  private readonly compiledSpecs = new WeakMap<object, CompiledSpec>();
  /**
   * Each namespace's policies, sorted by name: the one copy of every policy the model holds (its spec is
   * kept for `snapshot` and to tell a changed spec). An array, not a map: a namespace holds a handful, and
   * the operator's proof keeps one list per namespace of the cluster.
   */
  private readonly policiesByNs = new Map<string, ModelPolicy[]>();
  private policyCount = 0;

  private readonly peerCache = new Map<string, PeerSet>();
  private readonly listener: ModelListener;

  /** Whether a pod without an IP may be at any address (AnalyzerOptions), else in no ipBlock. */
  readonly withoutIpAnywhere: boolean;

  constructor(listener: ModelListener, withoutIpAnywhere = false) {
    this.listener = listener;
    this.withoutIpAnywhere = withoutIpAnywhere;
    this.blocks.onNew = (b) => { this.pendingBlocks.push(b); };
  }

  // ---------------------------------------------------------------- namespaces

  setNamespace(ns: NamespaceInfo): void { this.putNamespace(ns.name, namespaceLabels(ns.name, ns.labels), true); }

  deleteNamespace(name: string): void {
    if (!this.namespaces.has(name)) return;
    // Pods outlive their namespace object until deleted: they keep the name label only.
    if (this.classesByNs.get(name)?.size) this.putNamespace(name, namespaceLabels(name, undefined), false);
    else { this.namespaces.delete(name); this.explicitNamespaces.delete(name); this.peerCache.clear(); this.listener.namespaceGone(name); }
  }

  labelsOf(name: string): Labels { return this.namespaces.get(name) ?? namespaceLabels(name, undefined); }

  private putNamespace(name: string, labels: Labels, explicit: boolean): void {
    if (explicit) this.explicitNamespaces.add(name); else this.explicitNamespaces.delete(name);
    const cur = this.namespaces.get(name);
    if (cur && labelsKey(cur) === labelsKey(labels)) return;
    this.namespaces.set(name, labels);
    this.peerCache.clear();
    const classes = this.classesByNs.get(name);
    // Selectors over this namespace's labels may now match differently for its pods.
    for (const c of classes ?? []) c.namespaceLabels = labels;
    this.listener.namespaceRelabelled(name, labels, (classes?.size ?? 0) > 0);
  }

  // ---------------------------------------------------------------- pods and classes

  setPod(info: PodInfo): void {
    const key = `${info.namespace}/${info.name}`;
    const prev = this.pods.get(key);
    const ips = parseIps(info.ips);
    const matching = this.blocks.all().filter((b) => blockMatchesAny(b, ips));
    const sig = matching.map((b) => b.id);
    const perAddress = ips.length > 1 ? ips.map((ip) => matching.filter((b) => blockContains(b, ip)).map((b) => b.id)) : [sig];
    const ck = classKey(info, ips, sig, ips.length > 1 ? perAddress : undefined);
    if (prev && prev.cls.key === ck) { prev.info = info; prev.ips = ips; return; }
    if (prev) this.leaveClass(prev);
    const rec: PodRecord = { key, info, ips, cls: undefined as unknown as PodClass };
    this.pods.set(key, rec);
    this.joinClass(rec, ck, sig, perAddress);
  }

  deletePod(namespace: string, name: string): void {
    const rec = this.pods.get(`${namespace}/${name}`);
    if (!rec) return;
    this.pods.delete(rec.key);
    this.leaveClass(rec);
  }

  classesIn(namespace: string): ReadonlySet<PodClass> { return this.classesByNs.get(namespace) ?? EMPTY_CLASSES; }

  private joinClass(rec: PodRecord, ck: string, sig: readonly number[], perAddress: readonly (readonly number[])[]): void {
    const ns = rec.info.namespace;
    if (!this.namespaces.has(ns)) this.putNamespace(ns, namespaceLabels(ns, undefined), false);
    let cls = this.classes.get(ck);
    if (!cls) {
      const blocks = new Set(sig);
      const anyAddress = this.withoutIpAnywhere && rec.ips.length === 0;
      cls = {
        id: this.nextClassId++, key: ck, namespace: ns, namespaceLabels: this.labelsOf(ns),
        // Copies, unless frozen (callers that intern values pass frozen shared ones: nothing can change them).
        labels: frozenOr(rec.info.labels ?? {}, (l) => ({ ...l })), containerPorts: frozenOr(rec.info.containerPorts, (ps) => ps.map((p) => ({ ...p }))),
        hostNetwork: rec.info.hostNetwork === true, anyAddress,
        blocks, addressBlocks: perAddress.length === 1 ? [blocks] : perAddress.map((ids) => new Set(ids)), pods: new Map(), selected: undefined,
        inBlock: anyAddress ? mayHoldAnyPod : (b: CompiledIpBlock) => blocks.has(b.id),
      };
      this.classes.set(ck, cls);
      let byNs = this.classesByNs.get(ns);
      if (!byNs) { byNs = new Set(); this.classesByNs.set(ns, byNs); }
      byNs.add(cls);
      if (anyAddress) this.anyAddressClasses.add(cls);
      for (const id of sig) {
        let byBlock = this.classesByBlock.get(id);
        if (!byBlock) { byBlock = new Set(); this.classesByBlock.set(id, byBlock); }
        byBlock.add(cls);
      }
      this.peerCache.clear();
    }
    cls.pods.set(rec.key, rec);
    rec.cls = cls;
    this.listener.topologyChanged(cls);
  }

  private leaveClass(rec: PodRecord): void {
    const cls = rec.cls;
    cls.pods.delete(rec.key);
    if (cls.pods.size === 0) {
      this.classes.delete(cls.key);
      // Empty sets go: a cluster that churns namespaces (CI) must not keep one per namespace ever seen.
      const byNs = this.classesByNs.get(cls.namespace);
      byNs?.delete(cls);
      const emptied = byNs?.size === 0;
      if (emptied) this.classesByNs.delete(cls.namespace);
      this.anyAddressClasses.delete(cls);
      for (const id of cls.blocks) {
        const byBlock = this.classesByBlock.get(id);
        byBlock?.delete(cls);
        if (byBlock?.size === 0) this.classesByBlock.delete(id);
      }
      this.peerCache.clear();
      const gone = emptied && this.namespaces.has(cls.namespace) && !this.explicitNamespaces.has(cls.namespace);
      if (gone) this.namespaces.delete(cls.namespace);
      this.listener.topologyChanged(cls);
      if (gone) this.listener.namespaceGone(cls.namespace);
      return;
    }
    this.listener.topologyChanged(cls);
  }

  /** New ipBlocks (from a policy or a tenant): pods whose IPs fall in them move to a class that says so. */
  flushBlocks(): void {
    while (this.pendingBlocks.length > 0) {
      const b = this.pendingBlocks.shift()!;
      for (const rec of [...this.pods.values()]) if (blockMatchesAny(b, rec.ips)) this.setPod(rec.info);
    }
  }

  // ---------------------------------------------------------------- policies

  setPolicy(p: PolicyInput): void {
    const { namespace, name } = p.metadata;
    let list = this.policiesByNs.get(namespace);
    const at = list ? indexByName(list, name) : -1;
    const prev = at >= 0 ? list![at]! : undefined;
    if (prev && (prev.spec === p.spec || JSON.stringify(prev.spec) === JSON.stringify(p.spec))) return;
    const compiled = this.compile(namespace, name, p.spec);
    if (!list) { list = []; this.policiesByNs.set(namespace, list); }
    if (prev) list[at] = compiled;
    else { list.splice(-at - 1, 0, compiled); this.policyCount++; }
    this.policyChanged(namespace);
    this.flushBlocks();
  }

  deletePolicy(namespace: string, name: string): void {
    const list = this.policiesByNs.get(namespace);
    const at = list ? indexByName(list, name) : -1;
    if (at < 0) return;
    if (list!.length === 1) this.policiesByNs.delete(namespace); else list!.splice(at, 1);
    this.policyCount--;
    this.policyChanged(namespace);
  }

  /** The namespace's policies, sorted by name. */
  policiesIn(namespace: string): readonly ModelPolicy[] { return this.policiesByNs.get(namespace) ?? NO_POLICIES; }
  get policyTotal(): number { return this.policyCount; }
  /** Every policy as it was given (for a snapshot). */
  *policyInputs(): Iterable<PolicyInput> {
    for (const list of this.policiesByNs.values()) for (const p of list) yield { metadata: { namespace: p.namespace, name: p.name }, spec: p.spec };
  }

  private compile(namespace: string, name: string, spec: PolicyInput['spec']): ModelPolicy {
    let shared = this.compiledSpecs.get(spec);
    if (!shared) {
      const c = compilePolicy({ metadata: { namespace, name }, spec }, this.blocks);
      shared = { podSelector: c.podSelector, ingressIsolates: c.ingressIsolates, egressIsolates: c.egressIsolates, ingress: c.ingress, egress: c.egress };
      this.compiledSpecs.set(spec, shared);
    }
    return new ModelPolicy(namespace, name, spec, shared);
  }

  private policyChanged(ns: string): void {
    for (const c of this.classesByNs.get(ns) ?? []) c.selected = undefined;
    this.listener.policiesChanged(ns);
  }

  // ---------------------------------------------------------------- verdicts

  /** Policies selecting the class, by direction (sorted by key). */
  selected(c: PodClass): { ingress: CompiledPolicy[]; egress: CompiledPolicy[] } {
    if (!c.selected) {
      // Sorted by key: one namespace's policies, sorted by name.
      const all = this.policiesIn(c.namespace).filter((p) => selectsPod(p, c.namespace, c.labels));
      c.selected = { ingress: all.filter((p) => p.ingressIsolates), egress: all.filter((p) => p.egressIsolates) };
    }
    return c.selected;
  }

  isolated(c: PodClass, direction: Direction): boolean {
    return !c.hostNetwork && this.selected(c)[direction].length > 0;
  }

  /** Ports the side of `self` admits for `direction` towards/from the pod class `other`. */
  sidePorts(self: PodClass, direction: Direction, other: PodClass, destination: readonly ContainerPort[]): PortSet {
    if (self.hostNetwork) return ALL_PORTS;
    const policies = this.selected(self)[direction];
    if (policies.length === 0) return ALL_PORTS;
    let out = NO_PORTS;
    for (const p of policies) {
      for (const r of direction === 'ingress' ? p.ingress : p.egress) {
        if (r.peers && !r.peers.some((peer) => peerMatchesPod(peer, p.namespace, other))) continue;
        out = union(out, rulePorts(r.ports, destination));
        if (out === ALL_PORTS) return out;
      }
    }
    return out;
  }

  // ---------------------------------------------------------------- peers

  private peerSet(peer: Extract<CompiledPeer, { kind: 'selector' }>, policyNamespace: string): PeerSet {
    const key = peer.namespaceSelector ? peer.key : `own=${policyNamespace}|${peer.key}`;
    let s = this.peerCache.get(key);
    if (!s) {
      const namespaces = peer.namespaceSelector ? this.namespaces.select(peer.namespaceSelector) : [policyNamespace];
      const classes: PodClass[] = [];
      for (const n of namespaces) {
        for (const c of this.classesByNs.get(n) ?? []) if (!peer.podSelector || matchesSelector(c.labels, peer.podSelector)) classes.push(c);
      }
      s = { classes, namespaces };
      this.peerCache.set(key, s);
    }
    return s;
  }

  /** Classes a rule's peers can match (undefined peers: any), recording what the enumeration depended on. */
  candidates(peers: CompiledPeer[] | undefined, policyNamespace: string, deps: Deps): Iterable<PodClass> {
    if (!peers) { deps.topoAll = true; return this.classes.values(); }
    const out = new Set<PodClass>();
    for (const p of peers) {
      if (p.kind === 'selector') {
        const s = this.peerSet(p, policyNamespace);
        for (const n of s.namespaces) deps.enumeratedNamespace(n);
        if (p.namespaceSelector) deps.usesSelector(p.key, p.namespaceSelector);
        for (const c of s.classes) out.add(c);
      } else if (p.kind === 'ipBlock') {
        deps.enumeratedBlock(p.block.id);
        for (const c of this.classesByBlock.get(p.block.id) ?? []) out.add(c);
        if (mayHoldAnyPod(p.block)) for (const c of this.anyAddressClasses) out.add(c);
      }
    }
    return out;
  }

  /** Like `candidates`, restricted to the classes of one namespace. */
  candidatesIn(peers: CompiledPeer[] | undefined, policyNamespace: string, ns: string, deps: Deps): Iterable<PodClass> {
    const classes = this.classesIn(ns);
    if (!peers) { deps.topoAll = true; return classes; }
    const labels = this.labelsOf(ns);
    const out = new Set<PodClass>();
    for (const p of peers) {
      if (p.kind === 'selector') {
        if (p.namespaceSelector) deps.usesSelector(p.key, p.namespaceSelector);
        if (p.namespaceSelector ? !matchesSelector(labels, p.namespaceSelector) : ns !== policyNamespace) continue;
        deps.enumeratedNamespace(ns);
        for (const c of classes) if (!p.podSelector || matchesSelector(c.labels, p.podSelector)) out.add(c);
      } else if (p.kind === 'ipBlock') {
        deps.enumeratedBlock(p.block.id);
        for (const c of classes) if (c.blocks.has(p.block.id) || (c.anyAddress && mayHoldAnyPod(p.block))) out.add(c);
      }
    }
    return out;
  }
}

const EMPTY_CLASSES: ReadonlySet<PodClass> = new Set();
const NO_POLICIES: readonly ModelPolicy[] = [];

type CompiledSpec = Omit<CompiledPolicy, 'key' | 'namespace' | 'name'>;

/** A policy as the model keeps it: its spec and its compiled rules (shared by equal specs); the key is made when first asked. */
export class ModelPolicy implements CompiledPolicy {
  readonly namespace: string;
  readonly name: string;
  readonly spec: PolicyInput['spec'];
  readonly podSelector: CompiledPolicy['podSelector'];
  readonly ingressIsolates: boolean;
  readonly egressIsolates: boolean;
  readonly ingress: CompiledPolicy['ingress'];
  readonly egress: CompiledPolicy['egress'];
  /** Made on first ask and kept: results that name the policy (with pods) share one string. */
  private madeKey: string | undefined;
  constructor(namespace: string, name: string, spec: PolicyInput['spec'], c: CompiledSpec) {
    this.namespace = namespace; this.name = name; this.spec = spec;
    this.podSelector = c.podSelector; this.ingressIsolates = c.ingressIsolates; this.egressIsolates = c.egressIsolates; this.ingress = c.ingress; this.egress = c.egress;
    this.madeKey = undefined;
  }
  get key(): string { return (this.madeKey ??= policyKey(this.namespace, this.name)); }
}

/** Where `name` is in a list sorted by name, or -(insertion point) - 1. */
function indexByName(list: readonly ModelPolicy[], name: string): number {
  let lo = 0; let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const n = list[mid]!.name;
    if (n === name) return mid;
    if (n < name) lo = mid + 1; else hi = mid - 1;
  }
  return -lo - 1;
}

function classKey(info: PodInfo, ips: readonly ParsedIp[], sig: readonly number[], perAddress?: readonly (readonly number[])[]): string {
  const ports = [...info.containerPorts].map((p) => `${p.name ?? ''}:${p.containerPort}/${p.protocol ?? 'TCP'}`).sort().join(',');
  const addresses = perAddress ? `\u0000${perAddress.map((ids) => ids.join(',')).sort().join(';')}` : '';
  // No IP (any address) and the address families are verdicts too: a first IPv6 address brings in the IPv6 samples.
  const families = ips.length === 0 ? '*' : [...new Set(ips.map((ip) => ip.family))].sort().join('');
  return `${info.namespace}\u0000${labelsKey(info.labels)}\u0000${ports}\u0000${info.hostNetwork ? 1 : 0}\u0000${families}\u0000${sig.join(',')}${addresses}`;
}
