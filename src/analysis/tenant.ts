// The tenant proof: for every tenant, the paths that cross its boundary without being declared.
// Pure and incremental. Pods are grouped into classes (same namespace, labels, container ports,
// hostNetwork and set of known ipBlocks their IPs fall in): every pod of a class gets the same verdicts,
// so the work scales with classes, not pods. Ports are handled as sets (see ports.ts), so "any port" and
// ranges are exact instead of probed. Each tenant's result is cached together with what it depended on
// and is recomputed only when a change touches one of those things.
import type { IPBlock, LabelSelector, NetworkPort, ValidTenant } from '../api/schema.ts';
import { parseIp } from '../net/cidr.ts';
import { LABEL_NAMESPACE_NAME } from '../policy/labels.ts';
import { matchesSelector } from '../policy/selector.ts';
import type { NetworkPolicy } from '../policy/types.ts';
import {
  IpBlockRegistry, blockContains, blockMatchesAny, compilePolicy, formatIp, namespaceLabels, parseIps, peerMatchesAddress,
  peerMatchesPod, policyKey, selectorPeerMatches, selectsPod,
  type CompiledIpBlock, type CompiledPeer, type CompiledPolicy, type Labels, type ParsedIp, type PodSubject,
} from './compile.ts';
import {
  ALL_PORTS, NO_PORTS, formatPortSet, has, intersect, isEmpty, range, ranges, rulePorts, subtract, union, type PortSet,
} from './ports.ts';
import { HOST_NETWORK_REASON, type ContainerPort, type NamespaceInfo, type PodInfo, type Protocol, type Snapshot } from './types.ts';

/** Addresses that stand for "the internet" on top of those derived from ipBlocks (see IsolationAnalyzer). */
export const DEFAULT_EXTERNAL_SAMPLES: readonly string[] = ['8.8.8.8', '203.0.113.9'];

export interface Breach {
  tenant: string;
  direction: 'ingress' | 'egress';
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

export interface TenantMatrix {
  /** Row and column labels: tenants sorted, then NON_TENANT for pods in no tenant's namespace. */
  tenants: string[];
  /** counts[src][dst] = allowed ordered pod pairs (distinct pods) from src's pods to dst's pods. */
  counts: Record<string, Record<string, number>>;
}
export const NON_TENANT = '(no tenant)';

export interface AnalyzerOptions {
  /** Addresses standing for "outside the cluster" besides those derived from ipBlocks. */
  externalSamples?: readonly string[];
}

interface PodRecord { key: string; info: PodInfo; ips: ParsedIp[]; cls: PodClass }

interface PodClass extends PodSubject {
  id: number;
  key: string;
  namespace: string;
  namespaceLabels: Labels;
  labels: Labels;
  containerPorts: readonly ContainerPort[];
  hostNetwork: boolean;
  blocks: ReadonlySet<number>;
  pods: Map<string, PodRecord>;
  /** Policies selecting the class, by direction, sorted by key; undefined until first needed. */
  selected: { ingress: CompiledPolicy[]; egress: CompiledPolicy[] } | undefined;
}

interface DeclaredRule { namespaceSelector: LabelSelector | undefined; podSelector: LabelSelector | undefined; block: CompiledIpBlock | undefined; ports: readonly NetworkPort[] }
interface TenantModel { tenant: ValidTenant; members: ReadonlySet<string>; ingress: DeclaredRule[]; egress: DeclaredRule[]; fingerprint: string }

interface TenantDeps {
  /** Whose result these are ('' for scratch enumerations that no result keeps). */
  tenant: string;
  /** The candidates were every class: any topology change anywhere matters. */
  topoAll: boolean;
  /** Namespaces whose classes were enumerated as candidate peers. */
  topoNs: Set<string>;
  /** ipBlocks whose matching classes were enumerated. */
  blocks: Set<number>;
  /** Namespace selectors used to enumerate candidates (a namespace that starts matching joins topoNs). */
  nsSelectors: Map<string, LabelSelector>;
  /** Namespaces whose policies were consulted for the peer side. */
  policyNs: Set<string>;
}
/** One tenant pod class and direction, with its tenant-side rules (they change only with the tenant's own namespaces). */
interface Work { c: PodClass; dir: 'ingress' | 'egress'; entries: Entry[] }
interface TenantResult {
  tenant: string;
  deps: TenantDeps;
  work: Work[];
  /** Pending breaches by peer namespace ('' = outside the cluster), each recomputable on its own. */
  pieces: Map<string, Map<string, Pending>>;
  /** Peer namespaces whose piece is stale. */
  dirty: Set<string>;
  /** The tenant's own namespaces whose policies changed: their work items (and the external piece) are stale. */
  staleMembers: Set<string>;
  /** Assembled breaches; undefined while some piece is stale. */
  breaches: Breach[] | undefined;
}

interface PeerSet { classes: PodClass[]; namespaces: string[] }

/** One tenant-side rule (or the implicit "not isolated" allow) with its precomputed ports when they do not depend on the destination. */
interface Entry { policy: string | null; rule: number; policyNamespace: string; peers: CompiledPeer[] | undefined; ports: readonly NetworkPort[] | undefined; fixed: PortSet | undefined }

interface Pending { dir: 'ingress' | 'egress'; local: PodClass; peerNs: string | undefined; peerLabel: string | undefined; protocol: Protocol; lo: number; hi: number; policy: string | null; classes: Set<PodClass>; why: string }

const frozenOr = <T extends object>(v: T, copy: (v: T) => T): T => (Object.isFrozen(v) ? v : copy(v));
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const canonical = (o: Readonly<Record<string, string>> | undefined): string => JSON.stringify(Object.entries(o ?? {}).sort(([a], [b]) => cmp(a, b)));
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

function emptyDeps(tenant = ''): TenantDeps {
  return { tenant, topoAll: false, topoNs: new Set(), blocks: new Set(), nsSelectors: new Map(), policyNs: new Set() };
}

export class IsolationAnalyzer {
  private readonly blocks = new IpBlockRegistry();
  private readonly pendingBlocks: CompiledIpBlock[] = [];
  private readonly externalSamples: readonly string[];

  /** Explicit namespaces plus implicit ones (pods whose namespace is unknown), with effective labels. */
  private readonly namespaces = new Map<string, { labels: Labels; explicit: boolean }>();
  private readonly labelIndex = new Map<string, Map<string, Set<string>>>();

  private readonly pods = new Map<string, PodRecord>();
  private readonly classes = new Map<string, PodClass>();
  private readonly classesByNs = new Map<string, Set<PodClass>>();
  private readonly classesByBlock = new Map<number, Set<PodClass>>();
  private nextClassId = 0;

  private readonly rawPolicies = new Map<string, NetworkPolicy>();
  /** Compiled rules by spec object: callers that share equal specs (the operator's cache does) share these too. */
  private readonly compiledSpecs = new WeakMap<object, Omit<CompiledPolicy, 'key' | 'namespace' | 'name'>>();
  private readonly policiesByNs = new Map<string, Map<string, CompiledPolicy>>();

  private readonly tenantModels = new Map<string, TenantModel>();
  private readonly ownersOfNs = new Map<string, Set<string>>();

  private readonly peerCache = new Map<string, PeerSet>();
  private readonly results = new Map<string, TenantResult>();
  /** Tenants whose breaches may have changed since `takeTouched` (new, recomputed, invalidated, removed). */
  private readonly touched = new Set<string>();
  /** Tenants whose result consulted a namespace's policies (deps.policyNs), so a policy event finds them directly; entries may be stale (checked on use). */
  private readonly policyDependents = new Map<string, Set<string>>();
  /** The same for namespace selectors (deps.nsSelectors), by selector key; few distinct ones in practice. */
  private readonly selectorUsers = new Map<string, { sel: LabelSelector; tenants: Set<string> }>();
  private recomputations = 0;
  private partialRecomputations = 0;

  constructor(options: AnalyzerOptions = {}) {
    this.externalSamples = options.externalSamples ?? DEFAULT_EXTERNAL_SAMPLES;
    this.blocks.onNew = (b) => { this.pendingBlocks.push(b); };
  }

  static fromSnapshot(snapshot: Snapshot, tenants: readonly ValidTenant[] = [], membership: ReadonlyMap<string, readonly string[]> = new Map(), options: AnalyzerOptions = {}): IsolationAnalyzer {
    const a = new IsolationAnalyzer(options);
    for (const n of snapshot.namespaces) a.setNamespace(n);
    for (const p of snapshot.policies) a.setPolicy(p);
    a.setTenants(tenants, membership);
    for (const p of snapshot.pods) a.setPod(p);
    return a;
  }

  // ---------------------------------------------------------------- namespaces

  setNamespace(ns: NamespaceInfo): void { this.putNamespace(ns.name, namespaceLabels(ns.name, ns.labels), true); }

  deleteNamespace(name: string): void {
    const cur = this.namespaces.get(name);
    if (!cur) return;
    // Pods outlive their namespace object until deleted: they keep the name label only.
    if (this.classesByNs.get(name)?.size) this.putNamespace(name, namespaceLabels(name, undefined), false);
    else { this.unindexNamespace(name, cur.labels); this.namespaces.delete(name); this.peerCache.clear(); }
  }

  private putNamespace(name: string, labels: Labels, explicit: boolean): void {
    const cur = this.namespaces.get(name);
    if (cur && canonical(cur.labels) === canonical(labels)) { cur.explicit = explicit; return; }
    if (cur) this.unindexNamespace(name, cur.labels);
    this.namespaces.set(name, { labels, explicit });
    for (const [k, v] of Object.entries(labels)) {
      let byValue = this.labelIndex.get(k);
      if (!byValue) { byValue = new Map(); this.labelIndex.set(k, byValue); }
      let set = byValue.get(v);
      if (!set) { set = new Set(); byValue.set(v, set); }
      set.add(name);
    }
    this.peerCache.clear();
    const classes = this.classesByNs.get(name);
    if (classes?.size) {
      // Selectors over this namespace's labels may now match differently for its pods: start over.
      for (const c of classes) c.namespaceLabels = labels;
      this.invalidateOwners(name);
      for (const r of this.results.values()) {
        const d = r.deps;
        if (d.topoAll || d.topoNs.has(name) || [...d.nsSelectors.values()].some((sel) => matchesSelector(labels, sel))) this.markDirty(r, name);
      }
    } else {
      // No pod here, so no verdict changed; but tenants whose selectors now match must watch it.
      for (const [key, u] of this.selectorUsers) {
        if (!matchesSelector(labels, u.sel)) continue;
        for (const t of u.tenants) {
          const r = this.results.get(t);
          if (!r?.deps.nsSelectors.has(key)) u.tenants.delete(t);
          else if (!r.deps.topoAll) r.deps.topoNs.add(name);
        }
        if (u.tenants.size === 0) this.selectorUsers.delete(key);
      }
    }
  }

  private unindexNamespace(name: string, labels: Labels): void {
    for (const [k, v] of Object.entries(labels)) this.labelIndex.get(k)?.get(v)?.delete(name);
  }

  /** Namespaces a selector matches, narrowed through the label index when it names a key's values. */
  private selectNamespaces(sel: LabelSelector): string[] {
    let candidates: Iterable<string> | undefined;
    const ml = Object.entries(sel.matchLabels ?? {});
    if (ml.length > 0) candidates = this.labelIndex.get(ml[0]![0])?.get(ml[0]![1]) ?? [];
    else {
      const inReq = (sel.matchExpressions ?? []).find((r) => r.operator === 'In');
      if (inReq) {
        const byValue = this.labelIndex.get(inReq.key);
        candidates = (inReq.values ?? []).flatMap((v) => [...(byValue?.get(v) ?? [])]);
      }
    }
    const out: string[] = [];
    for (const n of candidates ?? this.namespaces.keys()) {
      const ns = this.namespaces.get(n);
      if (ns && matchesSelector(ns.labels, sel)) out.push(n);
    }
    return [...new Set(out)];
  }

  // ---------------------------------------------------------------- pods and classes

  setPod(info: PodInfo): void {
    const key = `${info.namespace}/${info.name}`;
    const prev = this.pods.get(key);
    const ips = parseIps(info.ips);
    const sig = this.blocks.all().filter((b) => blockMatchesAny(b, ips)).map((b) => b.id);
    const ck = this.classKey(info, sig);
    if (prev && prev.cls.key === ck) { prev.info = info; prev.ips = ips; return; }
    if (prev) this.leaveClass(prev);
    const rec: PodRecord = { key, info, ips, cls: undefined as unknown as PodClass };
    this.pods.set(key, rec);
    this.joinClass(rec, ck, sig);
  }

  deletePod(namespace: string, name: string): void {
    const rec = this.pods.get(`${namespace}/${name}`);
    if (!rec) return;
    this.pods.delete(rec.key);
    this.leaveClass(rec);
  }

  private classKey(info: PodInfo, sig: readonly number[]): string {
    const ports = [...info.containerPorts].map((p) => `${p.name ?? ''}:${p.containerPort}/${p.protocol ?? 'TCP'}`).sort().join(',');
    return `${info.namespace}\u0000${canonical(info.labels)}\u0000${ports}\u0000${info.hostNetwork ? 1 : 0}\u0000${sig.join(',')}`;
  }

  private joinClass(rec: PodRecord, ck: string, sig: readonly number[]): void {
    const ns = rec.info.namespace;
    if (!this.namespaces.has(ns)) this.putNamespace(ns, namespaceLabels(ns, undefined), false);
    let cls = this.classes.get(ck);
    if (!cls) {
      const blocks = new Set(sig);
      cls = {
        id: this.nextClassId++, key: ck, namespace: ns, namespaceLabels: this.namespaces.get(ns)!.labels,
        // Copies, unless frozen (callers that intern values pass frozen shared ones: nothing can change them).
        labels: frozenOr(rec.info.labels ?? {}, (l) => ({ ...l })), containerPorts: frozenOr(rec.info.containerPorts, (ps) => ps.map((p) => ({ ...p }))),
        hostNetwork: rec.info.hostNetwork === true,
        blocks, pods: new Map(), selected: undefined,
        inBlock: (b: CompiledIpBlock) => blocks.has(b.id),
      };
      this.classes.set(ck, cls);
      let byNs = this.classesByNs.get(ns);
      if (!byNs) { byNs = new Set(); this.classesByNs.set(ns, byNs); }
      byNs.add(cls);
      for (const id of sig) {
        let byBlock = this.classesByBlock.get(id);
        if (!byBlock) { byBlock = new Set(); this.classesByBlock.set(id, byBlock); }
        byBlock.add(cls);
      }
      this.peerCache.clear();
    }
    cls.pods.set(rec.key, rec);
    rec.cls = cls;
    this.topologyChanged(cls);
  }

  private leaveClass(rec: PodRecord): void {
    const cls = rec.cls;
    cls.pods.delete(rec.key);
    if (cls.pods.size === 0) {
      this.classes.delete(cls.key);
      this.classesByNs.get(cls.namespace)?.delete(cls);
      for (const id of cls.blocks) this.classesByBlock.get(id)?.delete(cls);
      this.peerCache.clear();
      const ns = this.namespaces.get(cls.namespace);
      if (ns && !ns.explicit && !this.classesByNs.get(cls.namespace)?.size) {
        this.unindexNamespace(cls.namespace, ns.labels);
        this.namespaces.delete(cls.namespace);
      }
    }
    this.topologyChanged(cls);
  }

  /** A class gained or lost pods (or appeared / vanished): tenants that enumerated its namespace or blocks recompute. */
  private topologyChanged(cls: PodClass): void {
    this.invalidateOwners(cls.namespace);
    for (const r of this.results.values()) {
      const d = r.deps;
      if (d.topoAll || d.topoNs.has(cls.namespace) || [...cls.blocks].some((b) => d.blocks.has(b))) this.markDirty(r, cls.namespace);
    }
  }

  /** New ipBlocks (from a policy or a tenant): pods whose IPs fall in them move to a class that says so. */
  private flushBlocks(): void {
    while (this.pendingBlocks.length > 0) {
      const b = this.pendingBlocks.shift()!;
      for (const rec of [...this.pods.values()]) if (blockMatchesAny(b, rec.ips)) this.setPod(rec.info);
    }
  }

  // ---------------------------------------------------------------- policies

  setPolicy(p: NetworkPolicy): void {
    const key = policyKey(p.metadata.namespace, p.metadata.name);
    const prev = this.rawPolicies.get(key);
    if (prev && (prev.spec === p.spec || JSON.stringify(prev.spec) === JSON.stringify(p.spec))) { this.rawPolicies.set(key, p); return; }
    this.rawPolicies.set(key, p);
    const compiled = this.compile(p);
    let byNs = this.policiesByNs.get(compiled.namespace);
    if (!byNs) { byNs = new Map(); this.policiesByNs.set(compiled.namespace, byNs); }
    byNs.set(key, compiled);
    this.policyChanged(compiled.namespace);
    this.flushBlocks();
  }

  private compile(p: NetworkPolicy): CompiledPolicy {
    const shared = this.compiledSpecs.get(p.spec);
    if (shared) return { key: policyKey(p.metadata.namespace, p.metadata.name), namespace: p.metadata.namespace, name: p.metadata.name, ...shared };
    const c = compilePolicy(p, this.blocks);
    this.compiledSpecs.set(p.spec, { podSelector: c.podSelector, ingressIsolates: c.ingressIsolates, egressIsolates: c.egressIsolates, ingress: c.ingress, egress: c.egress });
    return c;
  }

  deletePolicy(namespace: string, name: string): void {
    const key = policyKey(namespace, name);
    if (!this.rawPolicies.delete(key)) return;
    this.policiesByNs.get(namespace)?.delete(key);
    this.policyChanged(namespace);
  }

  /** Verdicts of pods in `ns` changed: its tenants and tenants that consulted it as a peer recompute. */
  private policyChanged(ns: string): void {
    for (const c of this.classesByNs.get(ns) ?? []) c.selected = undefined;
    // Only the work items of the tenant's classes in `ns` (and its external samples) depend on these policies.
    for (const t of this.ownersOfNs.get(ns) ?? []) {
      const r = this.results.get(t);
      if (r) { r.staleMembers.add(ns); r.breaches = undefined; this.touched.add(t); }
    }
    const dependents = this.policyDependents.get(ns);
    for (const t of dependents ?? []) {
      const r = this.results.get(t);
      if (r?.deps.policyNs.has(ns)) this.markDirty(r, ns); else dependents!.delete(t);
    }
    if (dependents?.size === 0) this.policyDependents.delete(ns);
  }

  private selected(c: PodClass): { ingress: CompiledPolicy[]; egress: CompiledPolicy[] } {
    if (!c.selected) {
      const all = [...(this.policiesByNs.get(c.namespace)?.values() ?? [])].filter((p) => selectsPod(p, c.namespace, c.labels)).sort((a, b) => cmp(a.key, b.key));
      c.selected = { ingress: all.filter((p) => p.ingressIsolates), egress: all.filter((p) => p.egressIsolates) };
    }
    return c.selected;
  }

  // ---------------------------------------------------------------- tenants

  /**
   * Replaces the tenants. `membership` maps a tenant to its member namespaces (use the exclusive members,
   * MembershipIndex.membersOf: a namespace several tenants claim belongs to none of them). Only tenants
   * whose spec or members changed are recomputed.
   */
  setTenants(tenants: readonly ValidTenant[], membership: ReadonlyMap<string, readonly string[]>): void {
    const names = new Set(tenants.map((t) => t.name));
    for (const name of [...this.tenantModels.keys()]) if (!names.has(name)) this.deleteTenant(name);
    for (const t of tenants) this.setTenant(t, membership.get(t.name) ?? []);
  }

  /** Adds or replaces one tenant (its members as in `setTenants`); a no-op when spec and members are unchanged. */
  setTenant(t: ValidTenant, members: readonly string[]): void {
    const sorted = [...new Set(members)].sort();
    const fingerprint = JSON.stringify([t.spec, sorted]);
    const prev = this.tenantModels.get(t.name);
    if (prev && prev.fingerprint === fingerprint) return;
    if (prev) this.disown(t.name, prev);
    const m = this.tenantModel(t, sorted, fingerprint);
    this.tenantModels.set(t.name, m);
    for (const ns of m.members) {
      let s = this.ownersOfNs.get(ns);
      if (!s) { s = new Set(); this.ownersOfNs.set(ns, s); }
      s.add(t.name);
    }
    this.dropResult(t.name);
    this.flushBlocks();
  }

  deleteTenant(name: string): void {
    const prev = this.tenantModels.get(name);
    if (!prev) return;
    this.disown(name, prev);
    this.tenantModels.delete(name);
    this.dropResult(name);
  }

  /** Tenants whose breaches may have changed since the last call (including removed ones), then forgets them. */
  takeTouched(): string[] {
    const out = [...this.touched];
    this.touched.clear();
    return out;
  }

  private disown(name: string, m: TenantModel): void {
    for (const ns of m.members) {
      const s = this.ownersOfNs.get(ns);
      s?.delete(name);
      if (s?.size === 0) this.ownersOfNs.delete(ns);
    }
  }

  /** Records that a result enumerated namespaces with a selector (and indexes the selector's users). */
  private usesSelector(deps: TenantDeps, key: string, sel: LabelSelector): void {
    if (deps.nsSelectors.has(key)) return;
    deps.nsSelectors.set(key, sel);
    if (!deps.tenant) return;
    let u = this.selectorUsers.get(key);
    if (!u) { u = { sel, tenants: new Set() }; this.selectorUsers.set(key, u); }
    u.tenants.add(deps.tenant);
  }

  private dependsOnPolicies(tenant: string, ns: string): void {
    let s = this.policyDependents.get(ns);
    if (!s) { s = new Set(); this.policyDependents.set(ns, s); }
    s.add(tenant);
  }

  private dropResult(name: string): void {
    this.results.delete(name);
    this.touched.add(name);
  }

  private tenantModel(t: ValidTenant, members: string[], fingerprint: string): TenantModel {
    const rule = (r: { namespaceSelector?: LabelSelector | undefined; podSelector?: LabelSelector | undefined; ipBlock?: IPBlock | undefined }, ports: readonly NetworkPort[]): DeclaredRule => ({
      namespaceSelector: r.ipBlock ? undefined : r.namespaceSelector,
      podSelector: r.ipBlock ? undefined : r.podSelector,
      block: r.ipBlock ? this.blocks.get(r.ipBlock) : undefined,
      ports,
    });
    const { dns, allow } = t.spec;
    const egress: DeclaredRule[] = [];
    if (dns.enabled) {
      egress.push(rule({ namespaceSelector: { matchLabels: { [LABEL_NAMESPACE_NAME]: dns.namespace } }, podSelector: dns.podSelector }, dns.ports));
      for (const ipBlock of dns.ipBlocks) egress.push(rule({ ipBlock }, dns.ports));
    }
    for (const r of allow.egressTo) egress.push(rule(r, r.ports));
    return { tenant: t, members: new Set(members), ingress: allow.ingressFrom.map((r) => rule(r, r.ports)), egress, fingerprint };
  }

  private invalidateOwners(ns: string): void {
    for (const t of this.ownersOfNs.get(ns) ?? []) this.dropResult(t);
  }

  /** Only the pairs with pods of `ns` changed for this tenant: recompute that piece on the next read. */
  private markDirty(r: TenantResult, ns: string): void {
    r.dirty.add(ns);
    r.breaches = undefined;
    this.touched.add(r.tenant);
  }

  tenantNames(): string[] { return [...this.tenantModels.keys()].sort(); }

  // ---------------------------------------------------------------- evaluation helpers

  private peerSet(peer: Extract<CompiledPeer, { kind: 'selector' }>, policyNamespace: string): PeerSet {
    const key = peer.namespaceSelector ? peer.key : `own=${policyNamespace}|${peer.key}`;
    let s = this.peerCache.get(key);
    if (!s) {
      const namespaces = peer.namespaceSelector ? this.selectNamespaces(peer.namespaceSelector) : [policyNamespace];
      const classes: PodClass[] = [];
      for (const n of namespaces) {
        for (const c of this.classesByNs.get(n) ?? []) if (!peer.podSelector || matchesSelector(c.labels, peer.podSelector)) classes.push(c);
      }
      s = { classes, namespaces };
      this.peerCache.set(key, s);
    }
    return s;
  }

  /** Classes a rule's peers can match, recording what the enumeration depended on. */
  private candidates(peers: CompiledPeer[] | undefined, policyNamespace: string, deps: TenantDeps): Iterable<PodClass> {
    if (!peers) { deps.topoAll = true; return this.classes.values(); }
    const out = new Set<PodClass>();
    for (const p of peers) {
      if (p.kind === 'selector') {
        const s = this.peerSet(p, policyNamespace);
        for (const n of s.namespaces) deps.topoNs.add(n);
        if (p.namespaceSelector) this.usesSelector(deps, p.key, p.namespaceSelector);
        for (const c of s.classes) out.add(c);
      } else if (p.kind === 'ipBlock') {
        deps.blocks.add(p.block.id);
        for (const c of this.classesByBlock.get(p.block.id) ?? []) out.add(c);
      }
    }
    return out;
  }

  /** Ports the side of `self` admits for `direction` towards/from the pod class `other`. */
  private sidePorts(self: PodClass, direction: 'ingress' | 'egress', other: PodClass, destination: readonly ContainerPort[]): PortSet {
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

  private isolated(c: PodClass, direction: 'ingress' | 'egress'): boolean {
    return !c.hostNetwork && this.selected(c)[direction].length > 0;
  }

  private entries(c: PodClass, direction: 'ingress' | 'egress'): Entry[] {
    if (!this.isolated(c, direction)) return [{ policy: null, rule: -1, policyNamespace: c.namespace, peers: undefined, ports: undefined, fixed: ALL_PORTS }];
    const out: Entry[] = [];
    for (const p of this.selected(c)[direction]) {
      for (const r of (direction === 'ingress' ? p.ingress : p.egress)) {
        const fixed = direction === 'ingress' ? rulePorts(r.ports, c.containerPorts) : hasNamedPort(r.ports) ? undefined : rulePorts(r.ports, undefined);
        out.push({ policy: p.key, rule: r.index, policyNamespace: p.namespace, peers: r.peers, ports: r.ports, fixed });
      }
    }
    return out;
  }

  private declaredPorts(rules: readonly DeclaredRule[], localNs: string, peer: PodClass | ParsedIp, destination: readonly ContainerPort[] | undefined): PortSet {
    let out = NO_PORTS;
    for (const r of rules) {
      const match = 'value' in peer
        ? r.block !== undefined && blockContains(r.block, peer)
        : r.block ? peer.blocks.has(r.block.id) : (r.namespaceSelector !== undefined || r.podSelector !== undefined) && selectorPeerMatches(r.namespaceSelector, r.podSelector, localNs, peer);
      if (match) out = union(out, rulePorts(r.ports, destination));
    }
    return out;
  }

  private externalSamplesFor(m: TenantModel): ParsedIp[] {
    const blocks: CompiledIpBlock[] = [];
    for (const ns of m.members) {
      for (const p of this.policiesByNs.get(ns)?.values() ?? []) {
        for (const r of [...p.ingress, ...p.egress]) for (const peer of r.peers ?? []) if (peer.kind === 'ipBlock') blocks.push(peer.block);
      }
    }
    for (const r of [...m.ingress, ...m.egress]) if (r.block) blocks.push(r.block);
    const out = new Map<string, ParsedIp>();
    const add = (ip: ParsedIp): void => { out.set(`${ip.family}/${ip.value}`, ip); };
    for (const s of this.externalSamples) { const ip = parseIp(s); if (ip) add(ip); }
    // The start of every region the ipBlocks cut the address space into: each ipBlock's inside,
    // its exceptions and the space right after each is probed, so verdicts cannot differ inside a region.
    for (const b of blocks) {
      for (const c of b.cidr ? [b.cidr, ...b.except] : []) {
        const bits = c.family === 4 ? 32 : 128;
        add({ family: c.family, value: c.base });
        const after = c.base + (1n << BigInt(bits - c.prefix));
        if (after < (1n << BigInt(bits))) add({ family: c.family, value: after });
      }
    }
    return [...out.values()];
  }

  // ---------------------------------------------------------------- breaches

  /**
   * Undeclared allowed paths across the tenant's boundary. Cached: a change in the tenant's own
   * namespaces or spec recomputes the tenant; a change elsewhere recomputes only the pairs with pods of
   * the namespace it happened in, and only for tenants whose result depended on that namespace.
   */
  breaches(tenant: string): Breach[] {
    const m = this.tenantModels.get(tenant);
    if (!m) return [];
    let r = this.results.get(tenant);
    if (!r) {
      this.recomputations++;
      r = this.computeTenant(m);
      this.results.set(tenant, r);
    } else {
      if (r.staleMembers.size > 0) {
        this.recomputations++;
        this.recomputeMembers(m, r, r.staleMembers);
        r.staleMembers.clear();
      }
      if (r.dirty.size > 0) {
        for (const ns of r.dirty) { this.partialRecomputations++; this.computePiece(m, r, ns); }
        r.dirty.clear();
      }
    }
    r.breaches ??= this.assemble(m, r);
    return r.breaches;
  }

  /** Every tenant's breaches (recomputing only what changes invalidated). */
  allBreaches(): Map<string, Breach[]> {
    return new Map(this.tenantNames().map((t) => [t, this.breaches(t)]));
  }

  private computeTenant(m: TenantModel): TenantResult {
    const deps = emptyDeps(m.tenant.name);
    const work: Work[] = [];
    for (const ns of m.members) {
      for (const c of this.classesByNs.get(ns) ?? []) for (const dir of ['ingress', 'egress'] as const) work.push({ c, dir, entries: this.entries(c, dir) });
    }
    const r: TenantResult = { tenant: m.tenant.name, deps, work, pieces: new Map(), dirty: new Set(), staleMembers: new Set(), breaches: undefined };
    this.computeExternal(m, r);
    for (const [ns, perWork] of this.relevantNamespaces(m, work, deps)) this.computePiece(m, r, ns, perWork);
    return r;
  }

  private computeExternal(m: TenantModel, r: TenantResult): void {
    const external = new Map<string, Pending>();
    const samples = this.externalSamplesFor(m);
    for (const w of r.work) this.externalBreaches(m, w, samples, external);
    r.pieces.set('', external);
  }

  /**
   * The policies of some of the tenant's own namespaces changed: only the work items of their classes are
   * redone (their contributions to every piece are dropped and recomputed); the other work items' contributions
   * do not depend on those policies (pairs within the tenant are never breaches). The external piece is redone
   * in full, since its samples come from the tenant's policies.
   */
  private recomputeMembers(m: TenantModel, r: TenantResult, stale: ReadonlySet<string>): void {
    const workKey = (c: PodClass, dir: 'ingress' | 'egress'): string => `${dir}|${c.id}`;
    const old = new Map<string, Work>();
    for (const w of r.work) if (stale.has(w.c.namespace)) old.set(workKey(w.c, w.dir), w);
    const work = r.work.filter((w) => !stale.has(w.c.namespace));
    const fresh: Work[] = [];
    for (const ns of stale) {
      for (const c of this.classesByNs.get(ns) ?? []) {
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
  private relevantNamespaces(m: TenantModel, work: readonly Work[], deps: TenantDeps): Map<string, Map<Work, Set<number>>> {
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
        if (!e.peers) { deps.topoAll = true; for (const ns of this.classesByNs.keys()) add(ns, w, i); return; }
        let last: string | undefined;
        for (const s of this.candidates(e.peers, e.policyNamespace, deps)) if (s.namespace !== last) { last = s.namespace; add(last, w, i); }
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
        for (const s of this.candidatesIn(e.peers, e.policyNamespace, ns, r.deps)) {
          let list = byPeer.get(s);
          if (!list) { list = []; byPeer.set(s, list); }
          list.push(i);
        }
      }
      if (byPeer.size > 0) this.peerBreaches(m, w, byPeer, r.deps, piece);
    }
    if (piece.size > 0) r.pieces.set(ns, piece); else r.pieces.delete(ns);
  }

  /** Like `candidates`, restricted to the classes of one namespace. */
  private candidatesIn(peers: CompiledPeer[] | undefined, policyNamespace: string, ns: string, deps: TenantDeps): Iterable<PodClass> {
    const classes = this.classesByNs.get(ns) ?? new Set<PodClass>();
    if (!peers) { deps.topoAll = true; return classes; }
    const labels = this.namespaces.get(ns)?.labels ?? namespaceLabels(ns, undefined);
    const out = new Set<PodClass>();
    for (const p of peers) {
      if (p.kind === 'selector') {
        if (p.namespaceSelector) this.usesSelector(deps, p.key, p.namespaceSelector);
        if (p.namespaceSelector ? !matchesSelector(labels, p.namespaceSelector) : ns !== policyNamespace) continue;
        deps.topoNs.add(ns);
        for (const c of classes) if (!p.podSelector || matchesSelector(c.labels, p.podSelector)) out.add(c);
      } else if (p.kind === 'ipBlock') {
        deps.blocks.add(p.block.id);
        for (const c of classes) if (c.blocks.has(p.block.id)) out.add(c);
      }
    }
    return out;
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
  private peerBreaches(m: TenantModel, w: Work, byPeer: Map<PodClass, number[]>, deps: TenantDeps, pending: Map<string, Pending>): void {
    const { c, dir, entries } = w;
    const declaredRules = dir === 'ingress' ? m.ingress : m.egress;
    const other = dir === 'ingress' ? 'egress' : 'ingress';
    for (const [peer, admitting] of byPeer) {
      const destination = dir === 'ingress' ? c.containerPorts : peer.containerPorts;
      const portsOf = (e: Entry): PortSet => e.fixed ?? rulePorts(e.ports, destination);
      let tenantSide = NO_PORTS;
      for (const i of admitting) tenantSide = union(tenantSide, portsOf(entries[i]!));
      // What the tenant declares depends on the peer namespace's labels (its selectors), even when the peer
      // was found through an ipBlock: a label change there must recompute this piece.
      deps.topoNs.add(peer.namespace);
      const rest = subtract(tenantSide, this.declaredPorts(declaredRules, c.namespace, peer, destination));
      if (isEmpty(rest)) continue;
      if (!deps.policyNs.has(peer.namespace)) { deps.policyNs.add(peer.namespace); this.dependsOnPolicies(m.tenant.name, peer.namespace); }
      const breach = intersect(rest, this.sidePorts(peer, other, c, destination));
      if (isEmpty(breach)) continue;
      const why = peer.hostNetwork ? `the peer is hostNetwork (${HOST_NETWORK_REASON})` : this.isolated(peer, other) ? `the peer's ${other} policies admit it` : `the peer is not isolated for ${other}`;
      this.record(w, pending, peer, breach, admitting, portsOf, why);
    }
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
      const breach = subtract(tenantSide, this.declaredPorts(declaredRules, c.namespace, ip, destination));
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
        r.deps.topoNs.add(ns); // whether the label is "namespace X" depends on X's other classes
        if (p.classes.size === (this.classesByNs.get(ns)?.size ?? 0)) {
          const label = `namespace ${ns}`;
          breaches.push({ ...base, pods, peer: label, message: msg(label) });
          continue;
        }
        for (const c of p.classes) for (const pod of c.pods.keys()) breaches.push({ ...base, pods, peer: pod, message: msg(pod) });
      }
    }
    breaches.sort((a, b) => cmp(a.direction, b.direction) || cmp(a.pods[0] ?? '', b.pods[0] ?? '') || cmp(a.peer, b.peer) || cmp(a.protocol, b.protocol) || a.port - b.port);
    return breaches;
  }

  // ---------------------------------------------------------------- cluster-wide views

  /** Pods no policy selects for Ingress ("ns/name", sorted): what Gatekeeper's require-networkpolicy flags. */
  podsSelectedByNoPolicy(): string[] {
    const out: string[] = [];
    for (const c of this.classes.values()) if (this.selected(c).ingress.length === 0) out.push(...c.pods.keys());
    return out.sort();
  }

  /** Ordered pairs of classes whose pods may connect on port/protocol. */
  private *allowedClassPairs(port: number, protocol: Protocol): Generator<[PodClass, PodClass]> {
    const scratch = emptyDeps();
    for (const s of this.classes.values()) {
      let candidates: Iterable<PodClass>;
      if (!this.isolated(s, 'egress')) candidates = this.classes.values();
      else {
        const set = new Set<PodClass>();
        for (const p of this.selected(s).egress) for (const r of p.egress) for (const d of this.candidates(r.peers, p.namespace, scratch)) set.add(d);
        candidates = set;
      }
      for (const d of candidates) {
        if (has(this.sidePorts(s, 'egress', d, d.containerPorts), protocol, port) && has(this.sidePorts(d, 'ingress', s, d.containerPorts), protocol, port)) yield [s, d];
      }
    }
  }

  /** Every ordered pair of distinct pods ("ns/name") whose connection on port/protocol is allowed. */
  allowedPairs(port: number, protocol: Protocol = 'TCP'): [string, string][] {
    const out: [string, string][] = [];
    for (const [s, d] of this.allowedClassPairs(port, protocol)) {
      for (const a of s.pods.keys()) for (const b of d.pods.keys()) if (a !== b) out.push([a, b]);
    }
    return out;
  }

  /** Allowed pod pairs counted per (source tenant, destination tenant); pods outside tenants count as NON_TENANT. */
  tenantMatrix(port: number, protocol: Protocol = 'TCP'): TenantMatrix {
    const tenants = [...this.tenantNames(), NON_TENANT];
    const counts: Record<string, Record<string, number>> = {};
    for (const t of tenants) counts[t] = Object.fromEntries(tenants.map((u) => [u, 0]));
    const ownerOf = (ns: string): string[] => {
      const o = this.ownersOfNs.get(ns);
      return o && o.size > 0 ? [...o] : [NON_TENANT];
    };
    for (const [s, d] of this.allowedClassPairs(port, protocol)) {
      const n = s.pods.size * d.pods.size - (s === d ? s.pods.size : 0);
      if (n === 0) continue;
      for (const a of ownerOf(s.namespace)) for (const b of ownerOf(d.namespace)) counts[a]![b]! += n;
    }
    return { tenants, counts };
  }

  /** The current state as a plain snapshot (for `decide`). */
  snapshot(): Snapshot {
    return {
      namespaces: [...this.namespaces].filter(([, v]) => v.explicit).map(([name, v]) => ({ name, labels: v.labels })),
      pods: [...this.pods.values()].map((r) => r.info),
      policies: [...this.rawPolicies.values()],
    };
  }

  /** Sizes, plus how many tenant results were computed in full and how many peer-namespace pieces were recomputed. */
  stats(): { namespaces: number; pods: number; classes: number; policies: number; ipBlocks: number; cachedTenants: number; recomputations: number; partialRecomputations: number } {
    return {
      namespaces: this.namespaces.size, pods: this.pods.size, classes: this.classes.size, policies: this.rawPolicies.size,
      ipBlocks: this.blocks.all().length, cachedTenants: this.results.size, recomputations: this.recomputations, partialRecomputations: this.partialRecomputations,
    };
  }
}

/** One-shot convenience: every tenant's breaches for a snapshot. */
export function tenantBreaches(snapshot: Snapshot, tenants: readonly ValidTenant[], membership: ReadonlyMap<string, readonly string[]>, options: AnalyzerOptions = {}): Map<string, Breach[]> {
  return IsolationAnalyzer.fromSnapshot(snapshot, tenants, membership, options).allBreaches();
}
