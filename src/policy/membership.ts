// Which tenants claim which namespaces, kept up to date incrementally from informer events so a
// reconcile never scans the cluster. A tenant event evaluates only the namespaces its selector can match
// (through the label index) and those it names or claimed before; a namespace event evaluates only the
// tenants that could claim it: those naming it, those whose selector's first matchLabels pair is one of
// its labels, and the few whose selector has no matchLabels (expressions only).
// A namespace claimed by exactly one tenant is that tenant's member; by several, a conflict.
import type { ValidTenant } from '../api/schema.ts';
import { NamespaceLabelIndex } from './namespace-labels.ts';
import { matchesSelector } from './selector.ts';

const NONE: readonly string[] = Object.freeze([]);

export class MembershipIndex {
  /** Namespaces no tenant ever claims (kube-system, the operator's own, ...). */
  readonly reserved: ReadonlySet<string>;
  private readonly tenants = new Map<string, ValidTenant>();
  private readonly namespaceLabels = new NamespaceLabelIndex();
  private readonly claimantsByNamespace = new Map<string, readonly string[]>();
  /** One frozen [tenant] per tenant, shared by the namespaces it alone claims (nearly all of them). */
  private readonly soleClaimant = new Map<string, readonly string[]>();
  private readonly claimedByTenant = new Map<string, Set<string>>();
  /** Sorted claimed and member lists, until they change (the members list is the claimed one when equal). */
  private readonly claimedSorted = new Map<string, readonly string[]>();
  private readonly membersSorted = new Map<string, readonly string[]>();
  private readonly versions = new Map<string, number>();
  /** Source of versions: every change of any tenant's sets takes the next value. */
  private clock = 0;
  /** Candidate tenants by namespace name (spec.namespaces), by "key=value" of a matchLabels pair, or always. */
  private readonly byName = new Map<string, Set<string>>();
  private readonly byLabel = new Map<string, Set<string>>();
  private readonly unindexed = new Set<string>();

  constructor(reserved: Iterable<string> = []) { this.reserved = new Set(reserved); }

  /** Whether `tenant` names or selects a namespace (reserved or not). */
  static claims(tenant: ValidTenant, namespace: string, labels: Readonly<Record<string, string>>): boolean {
    if (tenant.spec.namespaces.includes(namespace)) return true;
    return tenant.spec.namespaceSelector !== undefined && matchesSelector(labels, tenant.spec.namespaceSelector);
  }

  /** Claims that count: a reserved namespace is never a member. */
  private claimsMember(tenant: ValidTenant, namespace: string, labels: Readonly<Record<string, string>>): boolean {
    return !this.reserved.has(namespace) && MembershipIndex.claims(tenant, namespace, labels);
  }

  /** Reserved namespaces the tenant names or selects: refused as members, reported in its status. */
  excludedFor(tenant: string): string[] {
    const t = this.tenants.get(tenant);
    if (!t) return [];
    return [...this.reserved].filter((ns) => { const l = this.namespaceLabels.get(ns); return l !== undefined && MembershipIndex.claims(t, ns, l); }).sort();
  }

  /** Adds or updates a namespace; returns the tenants whose claims changed. */
  setNamespace(name: string, labels: Readonly<Record<string, string>> | undefined): Set<string> {
    const l = labels ?? {};
    this.namespaceLabels.set(name, l);
    const next: string[] = [];
    for (const t of this.candidates(name, l)) if (this.claimsMember(this.tenants.get(t)!, name, l)) next.push(t);
    next.sort();
    return this.replaceClaimants(name, next);
  }

  deleteNamespace(name: string): Set<string> {
    this.namespaceLabels.delete(name);
    return this.replaceClaimants(name, []);
  }

  /**
   * Adds or updates a claiming tenant (not being deleted): a valid one, or an invalid one that still claims
   * by its selector and names (`invalid` set: it fails closed); returns tenants whose claims changed.
   * `moved` gains every namespace whose claimants changed: one the tenant stopped claiming must be planned
   * again even when none of its policies has been seen yet (a join whose writes are still in flight).
   */
  setTenant(tenant: ValidTenant, moved?: Set<string>): Set<string> {
    const prev = this.tenants.get(tenant.name);
    if (prev) this.unindexTenant(prev);
    this.tenants.set(tenant.name, tenant);
    this.indexTenant(tenant);
    return this.recomputeTenant(tenant.name, moved);
  }

  /** Removes a tenant's claims (deleted, being deleted, or so invalid it names no namespace); `moved` as in setTenant. */
  deleteTenant(name: string, moved?: Set<string>): Set<string> {
    const prev = this.tenants.get(name);
    if (!prev) return new Set();
    this.unindexTenant(prev);
    this.tenants.delete(name);
    const changed = this.recomputeTenant(name, moved);
    this.soleClaimant.delete(name);
    // Nothing of a deleted tenant stays behind (its versions come from one clock: a tenant recreated
    // under the name never repeats a version a caller remembers).
    if (this.claimedByTenant.get(name)?.size === 0) this.claimedByTenant.delete(name);
    this.claimedSorted.delete(name);
    this.membersSorted.delete(name);
    this.versions.delete(name);
    return changed;
  }

  /** Tenants that may claim the namespace (a superset; `claims` decides). */
  private candidates(name: string, labels: Readonly<Record<string, string>>): Set<string> {
    const out = new Set(this.unindexed);
    for (const t of this.byName.get(name) ?? []) out.add(t);
    for (const [k, v] of Object.entries(labels)) for (const t of this.byLabel.get(`${k}=${v}`) ?? []) out.add(t);
    return out;
  }

  private indexKeys(t: ValidTenant): { names: readonly string[]; label: string | undefined; unindexed: boolean } {
    const sel = t.spec.namespaceSelector;
    const first = sel ? Object.entries(sel.matchLabels ?? {})[0] : undefined;
    // Every matchLabels pair must hold, so a namespace lacking the first one cannot match.
    return { names: t.spec.namespaces, label: first ? `${first[0]}=${first[1]}` : undefined, unindexed: sel !== undefined && first === undefined };
  }

  private indexTenant(t: ValidTenant): void {
    const k = this.indexKeys(t);
    const add = (m: Map<string, Set<string>>, key: string): void => { let s = m.get(key); if (!s) { s = new Set(); m.set(key, s); } s.add(t.name); };
    for (const n of k.names) add(this.byName, n);
    if (k.label !== undefined) add(this.byLabel, k.label);
    if (k.unindexed) this.unindexed.add(t.name);
  }

  private unindexTenant(t: ValidTenant): void {
    const k = this.indexKeys(t);
    const del = (m: Map<string, Set<string>>, key: string): void => { const s = m.get(key); s?.delete(t.name); if (s?.size === 0) m.delete(key); };
    for (const n of k.names) del(this.byName, n);
    if (k.label !== undefined) del(this.byLabel, k.label);
    this.unindexed.delete(t.name);
  }

  tenant(name: string): ValidTenant | undefined { return this.tenants.get(name); }
  tenantNames(): string[] { return [...this.tenants.keys()].sort(); }
  hasNamespace(name: string): boolean { return this.namespaceLabels.has(name); }
  /** Namespaces whose label `key` is `value`. */
  namespacesLabelled(key: string, value: string): string[] { return this.namespaceLabels.select({ matchLabels: { [key]: value } }); }
  /** The labels of a namespace the index knows. */
  labelsOf(name: string): Readonly<Record<string, string>> | undefined { return this.namespaceLabels.get(name); }

  claimantsOf(namespace: string): readonly string[] { return this.claimantsByNamespace.get(namespace) ?? NONE; }

  /** Every existing namespace the tenant claims, conflicted ones included, sorted. */
  claimedBy(tenant: string): readonly string[] {
    const claimed = this.claimedByTenant.get(tenant);
    if (!claimed) return NONE; // not cached: a tenant the index does not know leaves no entry behind
    let v = this.claimedSorted.get(tenant);
    if (!v) { v = [...claimed].sort(); this.claimedSorted.set(tenant, v); }
    return v;
  }

  /** Namespaces only this tenant claims, sorted: the peers of its intra-tenant policies. */
  membersOf(tenant: string): readonly string[] {
    let v = this.membersSorted.get(tenant);
    if (!v) {
      if (!this.claimedByTenant.has(tenant)) return NONE;
      const claimed = this.claimedBy(tenant);
      const only = claimed.filter((ns) => this.claimantsOf(ns).length === 1);
      v = only.length === claimed.length ? claimed : only;
      this.membersSorted.set(tenant, v);
    }
    return v;
  }

  /** Bumped whenever the tenant's claimed or member set changes; lets callers fan out only on change. */
  version(tenant: string): number { return this.versions.get(tenant) ?? 0; }

  private recomputeTenant(name: string, moved: Set<string> | undefined): Set<string> {
    const changed = new Set<string>();
    const t = this.tenants.get(name);
    // Only namespaces whose claim can change: those it claims now, names, or its selector matches.
    const candidates = new Set(this.claimedByTenant.get(name));
    for (const ns of t?.spec.namespaces ?? []) candidates.add(ns);
    if (t?.spec.namespaceSelector) for (const ns of this.namespaceLabels.select(t.spec.namespaceSelector)) candidates.add(ns);
    for (const ns of candidates) {
      const labels = this.namespaceLabels.get(ns);
      if (!labels) continue;
      const before = this.claimantsOf(ns);
      const had = before.includes(name);
      const has = t !== undefined && this.claimsMember(t, ns, labels);
      if (had === has) continue;
      const next = has ? [...before, name].sort() : before.filter((n) => n !== name);
      moved?.add(ns);
      for (const c of this.replaceClaimants(ns, next)) changed.add(c);
    }
    return changed;
  }

  private sole(tenant: string): readonly string[] {
    let a = this.soleClaimant.get(tenant);
    if (!a) { a = Object.freeze([tenant]); this.soleClaimant.set(tenant, a); }
    return a;
  }

  private replaceClaimants(ns: string, next: string[]): Set<string> {
    const before = this.claimantsOf(ns);
    const changed = new Set<string>();
    if (before.length === next.length && before.every((b, i) => b === next[i])) return changed;
    // Every tenant on either side is affected: its claimed set or its member (exclusive) set moved.
    for (const t of before) { changed.add(t); if (!next.includes(t)) this.claimedByTenant.get(t)?.delete(ns); }
    for (const t of next) {
      changed.add(t);
      let set = this.claimedByTenant.get(t);
      if (!set) { set = new Set(); this.claimedByTenant.set(t, set); }
      set.add(ns);
    }
    if (next.length === 0) this.claimantsByNamespace.delete(ns);
    else this.claimantsByNamespace.set(ns, next.length === 1 ? this.sole(next[0]!) : Object.freeze(next));
    for (const t of changed) {
      this.claimedSorted.delete(t);
      this.membersSorted.delete(t);
      this.versions.set(t, ++this.clock);
    }
    return changed;
  }
}
