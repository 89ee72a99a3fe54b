// Indexes the event handlers keep over the caches, like controller-runtime's field indexers: answers a
// reconcile needs without scanning a cache.
import { LABEL_TENANT } from '../policy/labels.ts';
import type { CachedPolicy } from '../policy/diff.ts';

/** Which namespaces hold managed policies labelled with each tenant, and how many managed policies exist. */
export class ManagedPolicyIndex {
  private readonly byTenant = new Map<string, Map<string, number>>();
  private total = 0;

  get count(): number { return this.total; }

  add(p: CachedPolicy): void { this.total++; this.move(p.metadata.labels?.[LABEL_TENANT], p.metadata.namespace, +1); }
  remove(p: CachedPolicy): void { this.total--; this.move(p.metadata.labels?.[LABEL_TENANT], p.metadata.namespace, -1); }

  /** Namespaces holding at least one managed policy of the tenant. */
  namespacesOf(tenant: string): string[] { return [...(this.byTenant.get(tenant)?.keys() ?? [])]; }
  /** Whether any namespace holds a policy of this tenant. */
  holds(tenant: string): boolean { return (this.byTenant.get(tenant)?.size ?? 0) > 0; }

  private move(tenant: string | undefined, ns: string, delta: number): void {
    if (tenant === undefined) return;
    let m = this.byTenant.get(tenant);
    if (!m) { m = new Map(); this.byTenant.set(tenant, m); }
    const n = (m.get(ns) ?? 0) + delta;
    if (n > 0) m.set(ns, n); else m.delete(ns);
    if (m.size === 0) this.byTenant.delete(tenant);
  }
}
