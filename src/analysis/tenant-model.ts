// Tenants as the analyzer sees them: their member namespaces and what they declare (DNS, allow entries),
// compiled against the model's ipBlock registry. A changed tenant drops its cached result.
import type { IPBlock, LabelSelector, NetworkPort, ValidTenant } from '../api/schema.ts';
import { LABEL_NAMESPACE_NAME } from '../policy/labels.ts';
import type { CompiledIpBlock } from './compile.ts';
import type { DependencyTracker } from './dependencies.ts';
import type { ClusterModel } from './model.ts';

/** A path the tenant declares: DNS, or an `allow` entry (peer and ports). */
export interface DeclaredRule { namespaceSelector: LabelSelector | undefined; podSelector: LabelSelector | undefined; block: CompiledIpBlock | undefined; ports: readonly NetworkPort[] }

export interface TenantModel { tenant: ValidTenant; members: ReadonlySet<string>; ingress: DeclaredRule[]; egress: DeclaredRule[]; fingerprint: string }

export class TenantModels {
  private readonly models = new Map<string, TenantModel>();
  private readonly ownersOfNs = new Map<string, Set<string>>();
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
    const fingerprint = JSON.stringify([t.spec, sorted]);
    const prev = this.models.get(t.name);
    if (prev && prev.fingerprint === fingerprint) return;
    if (prev) this.disown(t.name, prev);
    const m = this.build(t, sorted, fingerprint);
    this.models.set(t.name, m);
    for (const ns of m.members) {
      let s = this.ownersOfNs.get(ns);
      if (!s) { s = new Set(); this.ownersOfNs.set(ns, s); }
      s.add(t.name);
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
      const s = this.ownersOfNs.get(ns);
      s?.delete(name);
      if (s?.size === 0) this.ownersOfNs.delete(ns);
    }
  }

  private build(t: ValidTenant, members: string[], fingerprint: string): TenantModel {
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
    return { tenant: t, members: new Set(members), ingress: allow.ingressFrom.map((r) => rule(r, r.ports)), egress, fingerprint };
  }
}
