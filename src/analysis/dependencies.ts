// What each tenant's cached result depended on, and which results a model change invalidates. A change in
// the tenant's own namespaces drops or re-works its result; a change elsewhere marks only the piece of the
// result for the namespace it happened in, and only in results that looked at that namespace.
import type { LabelSelector } from '../api/schema.ts';
import { matchesSelector } from '../policy/selector.ts';
import type { Labels } from './compile.ts';
import type { ModelListener, PodClass } from './model.ts';

/**
 * What one computation read: which model changes must invalidate it. Each set is made on first use: a
 * tenant result is kept for every tenant, and most read little (no pods: nothing at all).
 */
export class Deps {
  /** The candidates were every class: any topology change anywhere matters. */
  topoAll = false;
  /** Namespaces whose classes were enumerated as candidate peers. */
  private topoNs: Set<string> | undefined;
  /** ipBlocks whose matching classes were enumerated. */
  private blocks: Set<number> | undefined;
  /** Namespace selectors used to enumerate candidates (a namespace that starts matching joins topoNs). */
  private nsSelectors: Map<string, LabelSelector> | undefined;
  /** Namespaces whose policies were consulted for the peer side. */
  private policyNs: Set<string> | undefined;
  /** Whose result these are; '' (and no tracker) for scratch enumerations that no result keeps. */
  readonly tenant: string;
  private readonly tracker: DependencyTracker | undefined;

  constructor(tenant = '', tracker?: DependencyTracker) { this.tenant = tenant; this.tracker = tracker; }

  enumeratedNamespace(ns: string): void { (this.topoNs ??= new Set()).add(ns); }
  enumeratedBlock(id: number): void { (this.blocks ??= new Set()).add(id); }

  usesSelector(key: string, sel: LabelSelector): void {
    if (this.nsSelectors?.has(key)) return;
    (this.nsSelectors ??= new Map()).set(key, sel);
    this.tracker?.indexSelectorUser(key, sel, this.tenant);
  }

  usesPoliciesOf(ns: string): void {
    if (this.policyNs?.has(ns)) return;
    (this.policyNs ??= new Set()).add(ns);
    this.tracker?.indexPolicyDependent(this.tenant, ns);
  }

  /** Whether the classes of `ns` were enumerated (or every class was). */
  readsTopologyOf(ns: string): boolean { return this.topoAll || (this.topoNs?.has(ns) ?? false); }
  readsBlock(id: number): boolean { return this.blocks?.has(id) ?? false; }
  readsAnyBlock(): boolean { return (this.blocks?.size ?? 0) > 0; }
  hasSelector(key: string): boolean { return this.nsSelectors?.has(key) ?? false; }
  /** Whether a namespace with these labels is matched by a selector this computation enumerated. */
  selectorMatches(labels: Labels): boolean {
    for (const sel of this.nsSelectors?.values() ?? []) if (matchesSelector(labels, sel)) return true;
    return false;
  }
  readsPoliciesOf(ns: string): boolean { return this.policyNs?.has(ns) ?? false; }
  /** The tracker dropped its index of `ns`: the next read of its policies indexes this result again. */
  forgetPoliciesOf(ns: string): void { this.policyNs?.delete(ns); }
}

/** The part of a cached tenant result that invalidation reads and writes. */
export interface CachedResult {
  tenant: string;
  deps: Deps;
  /** Peer namespaces whose piece is stale (made when one is). */
  dirty: Set<string> | undefined;
  /** The tenant's own namespaces whose policies changed: their work items (and the external piece) are stale. */
  staleMembers: Set<string> | undefined;
  /** Assembled breaches; undefined while something is stale. */
  breaches: unknown[] | undefined;
}

export class DependencyTracker<R extends CachedResult = CachedResult> implements ModelListener {
  readonly results = new Map<string, R>();
  /** Tenants whose breaches may have changed since `takeTouched` (new, recomputed, invalidated, removed). */
  private readonly touched = new Set<string>();
  /** Tenants whose result consulted a namespace's policies (deps.policyNs), so a policy event finds them directly; entries may be stale (checked on use). */
  private readonly policyDependents = new Map<string, Set<string>>();
  /** The same for namespace selectors (deps.nsSelectors), by selector key; few distinct ones in practice. */
  private readonly selectorUsers = new Map<string, { sel: LabelSelector; tenants: Set<string> }>();
  /** Tenants owning a namespace (its members' tenants). */
  private readonly ownersOf: (ns: string) => Iterable<string>;

  constructor(ownersOf: (ns: string) => Iterable<string>) { this.ownersOf = ownersOf; }

  namespaceRelabelled(name: string, labels: Labels, hasPods: boolean): void {
    if (hasPods) {
      // Selectors over this namespace's labels may now match differently for its pods: start over.
      this.invalidateOwners(name);
      for (const r of this.results.values()) {
        const d = r.deps;
        if (d.readsTopologyOf(name) || d.selectorMatches(labels)) this.markDirty(r, name);
      }
      return;
    }
    // No pod here, so no verdict changed; but tenants whose selectors now match must watch it.
    for (const [key, u] of this.selectorUsers) {
      if (!matchesSelector(labels, u.sel)) continue;
      for (const t of u.tenants) {
        const r = this.results.get(t);
        if (!r?.deps.hasSelector(key)) u.tenants.delete(t);
        else if (!r.deps.topoAll) r.deps.enumeratedNamespace(name);
      }
      if (u.tenants.size === 0) this.selectorUsers.delete(key);
    }
  }

  /** A class gained or lost pods (or appeared / vanished): tenants that enumerated its namespace or blocks recompute. */
  topologyChanged(cls: PodClass): void {
    this.invalidateOwners(cls.namespace);
    for (const r of this.results.values()) {
      const d = r.deps;
      // A class without an IP is a candidate of every ipBlock.
      if (d.readsTopologyOf(cls.namespace) || (cls.anyAddress ? d.readsAnyBlock() : [...cls.blocks].some((b) => d.readsBlock(b)))) this.markDirty(r, cls.namespace);
    }
  }

  /** Verdicts of pods in `ns` changed: its tenants and tenants that consulted it as a peer recompute. */
  policiesChanged(ns: string): void {
    // Only the work items of the tenant's classes in `ns` (and its external samples) depend on these policies.
    for (const t of this.ownersOf(ns)) {
      const r = this.results.get(t);
      if (r) { (r.staleMembers ??= new Set()).add(ns); r.breaches = undefined; this.touched.add(t); }
    }
    const dependents = this.policyDependents.get(ns);
    for (const t of dependents ?? []) {
      const r = this.results.get(t);
      if (r?.deps.readsPoliciesOf(ns)) this.markDirty(r, ns); else dependents!.delete(t);
    }
    if (dependents?.size === 0) this.policyDependents.delete(ns);
  }

  /**
   * `ns` is gone: nobody needs finding by its policies. The results that read them forget it too, so one
   * that reads them again (a pod outliving its namespace, the namespace back) is indexed again.
   */
  namespaceGone(ns: string): void {
    for (const t of this.policyDependents.get(ns) ?? []) this.results.get(t)?.deps.forgetPoliciesOf(ns);
    this.policyDependents.delete(ns);
  }

  indexSelectorUser(key: string, sel: LabelSelector, tenant: string): void {
    let u = this.selectorUsers.get(key);
    if (!u) { u = { sel, tenants: new Set() }; this.selectorUsers.set(key, u); }
    u.tenants.add(tenant);
  }

  indexPolicyDependent(tenant: string, ns: string): void {
    let s = this.policyDependents.get(ns);
    if (!s) { s = new Set(); this.policyDependents.set(ns, s); }
    s.add(tenant);
  }

  /** The tenant's result is gone (its spec, members or own namespaces changed): computed afresh on the next read. */
  dropResult(tenant: string): void {
    this.results.delete(tenant);
    this.touched.add(tenant);
  }

  /** Tenants whose breaches may have changed since the last call (including removed ones), then forgets them. */
  takeTouched(): string[] {
    const out = [...this.touched];
    this.touched.clear();
    return out;
  }

  private invalidateOwners(ns: string): void {
    for (const t of this.ownersOf(ns)) this.dropResult(t);
  }

  /** Only the pairs with pods of `ns` changed for this tenant: recompute that piece on the next read. */
  private markDirty(r: R, ns: string): void {
    (r.dirty ??= new Set()).add(ns);
    r.breaches = undefined;
    this.touched.add(r.tenant);
  }
}
