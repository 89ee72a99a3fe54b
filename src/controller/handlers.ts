// Informer event handlers: they update the indexes and the proof, and turn each event into keys for the
// controllers that care, as controller-runtime's Watches with map functions do. No decision is made here;
// reconcile reads the caches, so the controllers are level-triggered.
//   Namespace event   -> the namespace; the tenants whose claims changed, and their namespaces (their
//                        intra-tenant peers changed)
//   Tenant event      -> the tenant; on a spec change (generation), its namespaces and those of tenants
//                        whose claims moved
//   Managed policy    -> its namespace (drift) and its tenant (status)
//   Gate binding      -> its tenant;  an admission policy appearing or going -> every tenant
import { parseTenant, type TenantIsolationObject } from '../api/schema.ts';
import type { CachedPolicy } from '../policy/diff.ts';
import { LABEL_TENANT } from '../policy/labels.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject } from '../policy/types.ts';
import { carriesOurLabel, concernsOperator, type ClusterCaches } from './caches.ts';
import type { ManagedPolicyIndex } from './indexes.ts';
import type { IsolationProof } from './isolation-proof.ts';
import type { NamespaceReconciler } from './namespace-reconciler.ts';
import type { TenantReconciler } from './tenant-reconciler.ts';

export interface Enqueue {
  namespace(name: string, priority?: boolean): void;
  tenant(name: string): void;
}

export interface HandlerTargets {
  caches: ClusterCaches;
  membership: MembershipIndex;
  /** Written here: tenants whose spec is invalid, with the error. */
  invalidTenants: Map<string, string>;
  /** Written here: tenant name by uid (which TenantIsolation owns a policy). */
  tenantUids: Map<string, string>;
  policyIndex: ManagedPolicyIndex;
  proof: IsolationProof | undefined;
  namespaceReconciler: NamespaceReconciler;
  tenantReconciler: TenantReconciler;
  enqueue: Enqueue;
}

export function wireHandlers(t: HandlerTargets): void {
  const { caches, membership, invalidTenants, policyIndex, proof, enqueue } = t;
  /** uid/generation of the spec each tenant was last indexed with. */
  const indexedSpec = new Map<string, string>();

  /** These tenants' claims changed: they and every namespace they claim or hold policies in are queued. */
  const fanOut = (tenants: Iterable<string>): void => {
    for (const tenant of tenants) {
      enqueue.tenant(tenant);
      for (const ns of membership.claimedBy(tenant)) enqueue.namespace(ns);
      for (const ns of policyIndex.namespacesOf(tenant)) enqueue.namespace(ns);
    }
  };

  const onNamespace = (ns: NamespaceObject): void => {
    const name = ns.metadata.name;
    proof?.setNamespace(name, ns.metadata.labels);
    const changed = membership.setNamespace(name, ns.metadata.labels);
    if (changed.size > 0) {
      proof?.tenantsChanged(changed);
      if (membership.claimantsOf(name).length > 0) t.namespaceReconciler.noteJoined(name);
    }
    // A namespace waiting for its first isolation jumps the queue, ahead of its tenant's fan-out.
    enqueue.namespace(name, t.namespaceReconciler.isJoining(name));
    fanOut(changed);
  };
  caches.namespaces.on({
    add: onNamespace,
    update: onNamespace,
    delete: (ns) => {
      const name = ns.metadata.name;
      proof?.deleteNamespace(name);
      const changed = membership.deleteNamespace(name);
      if (changed.size > 0) proof?.tenantsChanged(changed);
      t.namespaceReconciler.forget(name);
      enqueue.namespace(name);
      fanOut(changed);
    },
  });

  const onTenant = (obj: TenantIsolationObject): void => {
    const name = obj.metadata.name;
    t.tenantUids.set(obj.metadata.uid, name);
    const spec = `${obj.metadata.uid}/${obj.metadata.generation ?? 0}`;
    // Our own status and finalizer writes come back as updates with the same generation: the spec, and so
    // membership, did not change (controller-runtime's GenerationChangedPredicate). Re-indexing would cost
    // O(namespaces) per status write.
    if (!obj.metadata.deletionTimestamp && indexedSpec.get(name) === spec) { enqueue.tenant(name); return; }
    indexedSpec.set(name, spec);
    const parsed = parseTenant(obj);
    let changed: Set<string>;
    if (obj.metadata.deletionTimestamp) {
      invalidTenants.delete(name);
      changed = membership.deleteTenant(name);
    } else if (parsed.ok) {
      invalidTenants.delete(name);
      changed = membership.setTenant(parsed.tenant);
    } else {
      // Fail closed: the namespaces it still names or selects stay its own (they get a default-deny).
      invalidTenants.set(name, parsed.error);
      changed = parsed.claims ? membership.setTenant(parsed.claims) : membership.deleteTenant(name);
    }
    // Its spec changed even when its claims did not (e.g. a new allow rule): the proof re-reads it, and
    // every namespace it claims is planned again.
    proof?.tenantsChanged([name, ...changed]);
    fanOut([name, ...changed]);
  };
  caches.tenants.on({
    add: onTenant,
    update: onTenant,
    delete: (obj) => {
      const name = obj.metadata.name;
      t.tenantUids.delete(obj.metadata.uid);
      indexedSpec.delete(name);
      invalidTenants.delete(name);
      const changed = membership.deleteTenant(name);
      proof?.tenantsChanged([name, ...changed]);
      t.tenantReconciler.forget(name);
      fanOut([name, ...changed]);
    },
  });

  const onManaged = (p: CachedPolicy): void => {
    enqueue.namespace(p.metadata.namespace);
    const tenant = p.metadata.labels?.[LABEL_TENANT];
    if (tenant !== undefined) enqueue.tenant(tenant);
  };
  // The index counts policies by our label (cheap, and enough to find where a tenant's policies are);
  // reconcile decides what is really the operator's (caches.ts ManagedPolicies).
  caches.policies.on({
    add: (p) => {
      proof?.setPolicy(p);
      if (carriesOurLabel(p)) policyIndex.add(p);
      if (concernsOperator(p)) onManaged(p);
    },
    update: (p, old) => {
      proof?.setPolicy(p);
      if (carriesOurLabel(old)) policyIndex.remove(old);
      if (carriesOurLabel(p)) policyIndex.add(p);
      if (concernsOperator(old)) onManaged(old);
      if (concernsOperator(p)) onManaged(p);
    },
    delete: (p) => {
      proof?.deletePolicy(p);
      if (carriesOurLabel(p)) policyIndex.remove(p);
      if (concernsOperator(p)) onManaged(p);
    },
  });

  // A tenant's gate bindings changed (ours, or someone tampered): its status and bindings are checked again.
  const onBinding = (b: { metadata: { labels?: Readonly<Record<string, string>> } }): void => {
    const tenant = b.metadata.labels?.[LABEL_TENANT];
    if (tenant !== undefined) enqueue.tenant(tenant);
  };
  caches.bindings.on({ add: onBinding, update: onBinding, delete: onBinding });
  // The gate installed or removed: every tenant's Gated condition may change (rare).
  const allTenants = (): void => { for (const obj of caches.tenants.list()) enqueue.tenant(obj.metadata.name); };
  caches.admissionPolicies.on({ add: allTenants, delete: allTenants });

  if (proof && caches.pods) {
    caches.pods.on({ add: (p) => proof.setPod(p), update: (p) => proof.setPod(p), delete: (p) => proof.deletePod(p) });
  }
}
