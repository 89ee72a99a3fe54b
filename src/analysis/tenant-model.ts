// Tenants as the analyzer sees them: their member namespaces and what they declare (DNS, allow entries),
// compiled against the model's ipBlock registry. A changed tenant drops its cached result.
import type { IPBlock, LabelSelector, NetworkPort, ValidTenant } from '../api/schema.ts';
import { LABEL_NAMESPACE_NAME } from '../policy/labels.ts';
import type { CompiledIpBlock } from './compile.ts';
import type { DependencyTracker } from './dependencies.ts';
import type { ClusterModel } from './model.ts';

/** A path the tenant declares: DNS, or an `allow` entry (peer and ports). */
export interface DeclaredRule { namespaceSelector: LabelSelector | undefined; podSelector: LabelSelector | undefined; block: CompiledIpBlock | undefined; ports: readonly NetworkPort[] }

export interface TenantModel {
  tenant: ValidTenant; members: ReadonlySet<string>; ingress: DeclaredRule[]; egress: DeclaredRule[];
  /** [tenant name]: what ownersOf gives for a namespace only this tenant owns (one array shared by its members). */
  soleOwner: readonly string[];
}

export class TenantModels {
  private readonly models = new Map<string, TenantModel>();
  /** Owners by namespace: nearly always one tenant, so a shared one-element array rather than a Set each. */
  private readonly ownersOfNs = new Map<string, readonly string[]>();
  private readonly model: ClusterModel;
  private readonly tracker: DependencyTracker;

  constructor(model: ClusterModel, tracker: DependencyTracker) { this.model = model; this.tracker = tracker; }

  get(name: string): TenantModel | undefined { return this.models.get(name); }
  names(): string[] { return [...this.models.keys()].sort(); }
  /** Tenants whose members include `ns` (one, unless callers pass overlapping member lists). */
  ownersOf(ns: string): Iterable<string> { return this.ownersOfNs.get(ns) ?? []; }

  /**
   * Replaces the tenants. `membership` maps a tenant to its member namespaces (use the exclusive members,
   * MembershipIndex.membersOf: a namespace several tenants claim belongs to none of them). Only tenants
   * whose spec or members changed are recomputed.
   */
  setAll(tenants: readonly ValidTenant[], membership: ReadonlyMap<string, readonly string[]>): void {
    const names = new Set(tenants.map((t) => t.name));
    for (const name of [...this.models.keys()]) if (!names.has(name)) this.delete(name);
    for (const t of tenants) this.set(t, membership.get(t.name) ?? []);
  }

  /** Adds or replaces one tenant; a no-op when spec and members are unchanged. */
  set(t: ValidTenant, members: readonly string[]): void {
    const sorted = [...new Set(members)].sort();
    const prev = this.models.get(t.name);
    if (prev && sameSpec(prev.tenant, t) && sorted.length === prev.members.size && sorted.every((n) => prev.members.has(n))) return;
    if (prev) this.disown(t.name, prev);
    const m = this.build(t, sorted);
    this.models.set(t.name, m);
    for (const ns of m.members) {
      const cur = this.ownersOfNs.get(ns);
      if (!cur) this.ownersOfNs.set(ns, m.soleOwner);
      else if (!cur.includes(t.name)) this.ownersOfNs.set(ns, [...cur, t.name]);
    }
    this.tracker.dropResult(t.name);
    this.model.flushBlocks();
  }

  delete(name: string): void {
    const prev = this.models.get(name);
    if (!prev) return;
    this.disown(name, prev);
    this.models.delete(name);
    this.tracker.dropResult(name);
  }

  private disown(name: string, m: TenantModel): void {
    for (const ns of m.members) {
      const cur = this.ownersOfNs.get(ns);
      if (!cur?.includes(name)) continue;
      if (cur.length === 1) this.ownersOfNs.delete(ns); else this.ownersOfNs.set(ns, cur.filter((o) => o !== name));
    }
  }

  private build(t: ValidTenant, members: string[]): TenantModel {
    const rule = (r: { namespaceSelector?: LabelSelector | undefined; podSelector?: LabelSelector | undefined; ipBlock?: IPBlock | undefined }, ports: readonly NetworkPort[]): DeclaredRule => ({
      namespaceSelector: r.ipBlock ? undefined : r.namespaceSelector,
      podSelector: r.ipBlock ? undefined : r.podSelector,
      block: r.ipBlock ? this.model.blocks.get(r.ipBlock) : undefined,
      ports,
    });
    const { dns, allow } = t.spec;
    const egress: DeclaredRule[] = [];
    if (dns.enabled) {
      egress.push(rule({ namespaceSelector: { matchLabels: { [LABEL_NAMESPACE_NAME]: dns.namespace } }, podSelector: dns.podSelector }, dns.ports));
      for (const ipBlock of dns.ipBlocks) egress.push(rule({ ipBlock }, dns.ports));
    }
    for (const r of allow.egressTo) egress.push(rule(r, r.ports));
    return { tenant: t, members: new Set(members), ingress: allow.ingressFrom.map((r) => rule(r, r.ports)), egress, soleOwner: Object.freeze([t.name]) };
  }
}

/** The same declared spec: the very same object (the membership index keeps one per spec version), else equal JSON. */
const sameSpec = (a: ValidTenant, b: ValidTenant): boolean => a.spec === b.spec || JSON.stringify(a.spec) === JSON.stringify(b.spec);
