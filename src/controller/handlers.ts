// Informer event handlers: they update the indexes and the proof, and turn each event into keys for the
// controllers that care, as controller-runtime's Watches with map functions do. No decision is made here;
// reconcile reads the caches, so the controllers are level-triggered.
//   Namespace event   -> the namespace; the tenants whose claims changed, and their namespaces (their
//                        intra-tenant peers changed)
//   Tenant event      -> the tenant; on a spec change (generation), its namespaces and those of tenants
//                        whose claims moved
//   Managed policy    -> its namespace (drift) and its tenant (status); not the echo of our own write
//                        (one arriving while its namespace's reconcile runs is decided when it ends)
//   Namespace label   -> not the echo of the operator's own label write (no claim changed)
//   Gate binding      -> its tenant;  an admission policy appearing or going -> every tenant
//   Membership keys   -> the gate controller (repairs them), and the tenants whose keys became guarded
//                        or stopped being guarded (MembershipGuarded)
//   Profile           -> the profile (status); on a spec change, the tenants inheriting from it whose
//                        effective spec changed, and their namespaces
//   Baseline          -> the baseline (status), and on a spec change every namespace
//   Namespace, pod    -> also the baseline (its status counts namespaces and unselected pods)
import { parseTenant, type TenantIsolationObject, type ValidTenant } from '../api/schema.ts';
import type { CachedPolicy } from '../policy/diff.ts';
import { LABEL_MANAGED_BY, LABEL_TENANT, OPERATOR_LABEL_PREFIX, OPERATOR_NAME } from '../policy/labels.ts';
import { MEMBERSHIP_GUARD, MEMBER_LABEL_GUARD, claimsOf, covers, membershipKeys, type CachedBinding } from '../admission/policies.ts';
import { keysOf, type CachedKeysConfigMap, type MembershipKeys } from './membership-keys.ts';
import type { GateBindings } from './gate-bindings.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject } from '../policy/types.ts';
import { carriesOurLabel, concernsOperator, type ClusterCaches } from './caches.ts';
import type { ManagedPolicyIndex } from './indexes.ts';
import type { IsolationProof } from './isolation-proof.ts';
import type { NamespaceReconciler } from './namespace-reconciler.ts';
import type { PeerModes } from './peer-modes.ts';
import { profileNameOf, type ProfileIndex } from './profile-index.ts';
import type { TenantReconciler } from './tenant-reconciler.ts';

export interface Enqueue {
  namespace(name: string, priority?: boolean): void;
  /**
   * A namespace created moments ago that waits for its first isolation: queued (ahead of the others) after
   * NEW_NAMESPACE_DELAY_MS. The apiserver's NamespaceLifecycle admission sleeps 50 ms before it admits a
   * create into a namespace its own informer has not seen yet; our watch often sees a new namespace a
   * moment before that informer does, and about one namespace in twenty paid the 50 ms on its policy
   * creates (time to isolation at 20/s: p90 15 ms, p99 62 ms). Waiting 2 ms first avoided every such
   * sleep in 400 namespaces and cost nothing at the median (p50 9.4 -> 8.7 ms, p99 64 -> 15.5 ms, for a
   * plain client against this control plane).
   */
  newNamespace(name: string): void;
  tenant(name: string): void;
  /**
   * The tenant's status only may have changed (a member's label, a member added under the member label,
   * our own status write seen back): queued after a short settle window, so the events of a burst of joins
   * make one status computation per tenant, not one each.
   */
  tenantStatus(name: string): void;
  profile(name: string): void;
  baseline(): void;
  /** The pod-gate bindings (one key for the cluster). */
  gate(): void;
}

export interface HandlerTargets {
  caches: ClusterCaches;
  membership: MembershipIndex;
  /** Written here: tenants whose spec is invalid, with the error. */
  invalidTenants: Map<string, string>;
  /** Written here: tenant name by uid (which TenantIsolation owns a policy). */
  tenantUids: Map<string, string>;
  policyIndex: ManagedPolicyIndex;
  /** Written here: which tenants inherit from which profile. */
  profiles: ProfileIndex;
  proof: IsolationProof | undefined;
  namespaceReconciler: NamespaceReconciler;
  tenantReconciler: TenantReconciler;
  enqueue: Enqueue;
  /** How each tenant's intra-tenant policies name its members (peer-modes.ts). */
  peerModes: PeerModes;
  /** Whether a reconcile of the namespace is running (namespaceReconciled is called once it has ended). */
  reconciling: (namespace: string) => boolean;
  membershipKeys: MembershipKeys;
  gateBindings: GateBindings;
}

export interface Handlers {
  /** A namespace reconcile has ended (the work queue's settled hook): the events held for it are decided. */
  namespaceReconciled(namespace: string): void;
}

export function wireHandlers(t: HandlerTargets): Handlers {
  const { caches, membership, invalidTenants, policyIndex, proof, enqueue } = t;
  /** uid/generation of the spec each tenant was last indexed with. */
  const indexedSpec = new Map<string, string>();

  /**
   * These tenants' specs changed: they and every namespace they claim or hold policies in are queued, and
   * the namespaces whose claims `moved` (one that left while its join's writes were in flight holds no
   * policy the index has seen yet, and would keep them and its member label until a resync).
   */
  const fanOut = (tenants: Iterable<string>, moved: Iterable<string> = []): void => {
    // Once each: a namespace queued again while a worker already holds it would run a second time.
    const namespaces = new Set(moved);
    for (const tenant of tenants) {
      enqueue.tenant(tenant);
      for (const ns of membership.claimedBy(tenant)) namespaces.add(ns);
      for (const ns of policyIndex.namespacesOf(tenant)) namespaces.add(ns);
    }
    for (const ns of namespaces) enqueue.namespace(ns);
  };
  /**
   * These tenants' members changed. Naming members, every member's intra-tenant policy lists them all, so
   * every member is queued; by member label, their policies do not depend on the members: only the tenant.
   */
  const membersChanged = (tenants: Iterable<string>): void => {
    for (const tenant of tenants) {
      if (t.peerModes.of(tenant) === 'MembershipLabel') enqueue.tenantStatus(tenant);
      else fanOut([tenant]);
    }
  };

  const onNamespace = (ns: NamespaceObject, old?: NamespaceObject): void => {
    const added = old === undefined;
    const name = ns.metadata.name;
    proof?.setNamespace(name, ns.metadata.labels);
    const changed = membership.setNamespace(name, ns.metadata.labels);
    if (changed.size > 0) {
      proof?.tenantsChanged(changed);
      if (membership.claimantsOf(name).length > 0) t.namespaceReconciler.noteJoined(name);
    }
    // The echo of the operator's own label write changes no claim and nothing the reconcile did not
    // know: only the status of its tenants (they report the member label) and the baseline's read it.
    // Unless other labels changed too: a relist after a watch gap folds someone's edit into the event of
    // our later write, and that edit may move the baseline's exemptions.
    if (changed.size === 0 && t.namespaceReconciler.isOwnLabelEcho(ns) && sameForeignLabels(ns, old)) {
      for (const tenant of membership.claimantsOf(name)) enqueue.tenantStatus(tenant);
      enqueue.baseline();
      return;
    }
    // A namespace waiting for its first isolation jumps the queue, ahead of its tenant's fan-out; one
    // created while we watch waits a moment for the apiserver's admission to see it (Enqueue.newNamespace).
    const joining = t.namespaceReconciler.isJoining(name);
    if (added && joining && caches.namespaces.hasSynced) enqueue.newNamespace(name);
    else enqueue.namespace(name, joining);
    membersChanged(changed);
    enqueue.baseline();
  };
  caches.namespaces.on({
    add: (ns) => onNamespace(ns),
    update: (ns, old) => onNamespace(ns, old),
    delete: (ns) => {
      const name = ns.metadata.name;
      proof?.deleteNamespace(name);
      const changed = membership.deleteNamespace(name);
      if (changed.size > 0) proof?.tenantsChanged(changed);
      t.namespaceReconciler.forget(name);
      enqueue.namespace(name);
      membersChanged(changed);
      enqueue.baseline();
    },
  });

  const onTenant = (obj: TenantIsolationObject, old?: TenantIsolationObject): void => {
    const name = obj.metadata.name;
    t.tenantUids.set(obj.metadata.uid, name);
    // Its intra-tenant policies switched between naming members and selecting the member label (a first
    // status recording the mode its policies already use is no switch).
    const switched = old !== undefined && t.peerModes.inUse(old) !== t.peerModes.inUse(obj);
    if (obj.status?.intraTenantPeers !== undefined) t.peerModes.settle(name);
    if (switched) fanOut([name]);
    // For a tenant indexed invalid, its recorded mode too: it keeps the mode its status last recorded
    // (parseTenant). A valid one's status writes never re-index it.
    const recorded = membership.tenant(name)?.invalid !== undefined ? `/${obj.status?.mode ?? ''}` : '';
    const spec = `${obj.metadata.uid}/${obj.metadata.generation ?? 0}${recorded}`;
    // Our own status and finalizer writes come back as updates with the same generation: the spec, and so
    // membership, did not change (controller-runtime's GenerationChangedPredicate). Re-indexing would cost
    // O(namespaces) per status write.
    if (!obj.metadata.deletionTimestamp && indexedSpec.get(name) === spec) { enqueue.tenantStatus(name); return; }
    indexedSpec.set(name, spec);
    for (const p of t.profiles.setTenant(name, obj.metadata.deletionTimestamp ? undefined : profileNameOf(obj))) enqueue.profile(p);
    index(obj);
  };

  /**
   * Indexes a tenant's effective spec (its own settings over its profile's). `onlyIfChanged`: after a
   * profile edit, a tenant whose effective spec is what it was is left alone (no reconcile, no write).
   */
  const index = (obj: TenantIsolationObject, onlyIfChanged = false): void => {
    const name = obj.metadata.name;
    const parsed = parseTenant(obj, t.profiles.lookup);
    if (onlyIfChanged && sameEffective(membership.tenant(name), parsed)) return;
    let changed: Set<string>;
    const moved = new Set<string>();
    if (obj.metadata.deletionTimestamp) {
      invalidTenants.delete(name);
      changed = membership.deleteTenant(name, moved);
    } else if (parsed.ok) {
      invalidTenants.delete(name);
      changed = membership.setTenant(parsed.tenant, moved);
    } else {
      // Fail closed: the namespaces it still names or selects stay its own (they get a default-deny).
      invalidTenants.set(name, parsed.error);
      changed = parsed.claims ? membership.setTenant(parsed.claims, moved) : membership.deleteTenant(name, moved);
    }
    // Its spec changed even when its claims did not (e.g. a new allow rule): the proof re-reads it, and
    // every namespace it claims is planned again; its namespaces may need other pod-gate bindings.
    proof?.tenantsChanged([name, ...changed]);
    fanOut([name], moved);
    membersChanged(changed);
    enqueue.gate();
  };
  caches.tenants.on({
    add: onTenant,
    update: onTenant,
    delete: (obj) => {
      const name = obj.metadata.name;
      t.tenantUids.delete(obj.metadata.uid);
      indexedSpec.delete(name);
      invalidTenants.delete(name);
      for (const p of t.profiles.setTenant(name, undefined)) enqueue.profile(p);
      const moved = new Set<string>();
      const changed = membership.deleteTenant(name, moved);
      proof?.tenantsChanged([name, ...changed]);
      t.tenantReconciler.forget(name);
      t.peerModes.settle(name);
      fanOut([name, ...changed], moved);
      enqueue.gate();
    },
  });

  // A profile's spec changed (or it appeared or went): its tenants are resolved again; those whose
  // effective spec changed are re-indexed and their namespaces planned again. Our status writes keep the
  // generation: only the profile is queued.
  const indexedProfile = new Map<string, string>();
  const onProfile = (obj: { metadata: { name: string; uid: string; generation?: number; deletionTimestamp?: string } }, gone = false): void => {
    const name = obj.metadata.name;
    enqueue.profile(name);
    const key = gone || obj.metadata.deletionTimestamp ? 'gone' : `${obj.metadata.uid}/${obj.metadata.generation ?? 0}`;
    if (indexedProfile.get(name) === key) return;
    if (key === 'gone') { indexedProfile.delete(name); t.profiles.forget(name); } else indexedProfile.set(name, key);
    for (const tenant of t.profiles.tenantsOf(name)) {
      const tobj = caches.tenants.get(tenant);
      if (tobj && !tobj.metadata.deletionTimestamp) index(tobj, true);
    }
  };
  caches.profiles.on({ add: (p) => onProfile(p), update: (p) => onProfile(p), delete: (p) => onProfile(p, true) });

  // The baseline's spec decides every unclaimed namespace's policies: all namespaces are planned again
  // (rare: a platform team's edit). Status writes only queue the baseline.
  let indexedBaseline: string | undefined;
  const onBaseline = (obj: { metadata: { uid: string; generation?: number; deletionTimestamp?: string } }, gone = false): void => {
    enqueue.baseline();
    const key = gone || obj.metadata.deletionTimestamp ? undefined : `${obj.metadata.uid}/${obj.metadata.generation ?? 0}`;
    if (key === indexedBaseline) return;
    indexedBaseline = key;
    for (const ns of caches.namespaces.list()) enqueue.namespace(ns.metadata.name);
  };
  caches.baselines.on({ add: (b) => onBaseline(b), update: (b) => onBaseline(b), delete: (b) => onBaseline(b, true) });

  const onManaged = (p: CachedPolicy): void => {
    enqueue.namespace(p.metadata.namespace);
    const tenant = p.metadata.labels?.[LABEL_TENANT];
    if (tenant !== undefined) enqueue.tenant(tenant);
  };
  // The echo of our own write (the version the write returned) tells the reconcilers nothing: the
  // namespace reconcile that wrote it already read it through the assumed writes, and queued its tenants
  // when it ended. Without this, each policy written queued its namespace and tenant once more.
  const echo = (p: CachedPolicy): boolean => caches.managed.assumed.observe(p.metadata.namespace, p.metadata.name, p.metadata.resourceVersion);
  /** Events that arrived while their namespace was being reconciled, by namespace. */
  const held = new Map<string, [CachedPolicy, CachedPolicy | undefined][]>();
  const onPolicyEvent = (p: CachedPolicy, old: CachedPolicy | undefined, mayHold: boolean): void => {
    if (echo(p)) {
      // Our write moved it from one tenant to another: the one it left re-reads its status.
      if (old && concernsOperator(old) && old.metadata.labels?.[LABEL_TENANT] !== p.metadata.labels?.[LABEL_TENANT]) onManaged(old);
      return;
    }
    // It may be the running reconcile's own write, arriving before the write's response (a third of a
    // fleet edit's echoes): decided once that reconcile has ended and its writes are known.
    const ns = p.metadata.namespace;
    if (mayHold && t.reconciling(ns)) {
      let h = held.get(ns);
      if (!h) { h = []; held.set(ns, h); }
      h.push([p, old]);
      return;
    }
    if (old && concernsOperator(old)) onManaged(old);
    if (concernsOperator(p)) onManaged(p);
  };
  // The index counts policies by our label (cheap, and enough to find where a tenant's policies are);
  // reconcile decides what is really the operator's (caches.ts ManagedPolicies).
  caches.policies.on({
    add: (p) => {
      proof?.setPolicy(p);
      if (carriesOurLabel(p)) policyIndex.add(p);
      if (concernsOperator(p)) onPolicyEvent(p, undefined, true);
    },
    update: (p, old) => {
      proof?.setPolicy(p);
      if (carriesOurLabel(old)) policyIndex.remove(old);
      if (carriesOurLabel(p)) policyIndex.add(p);
      if (concernsOperator(old) || concernsOperator(p)) onPolicyEvent(p, old, true);
    },
    delete: (p) => {
      proof?.deletePolicy(p);
      if (carriesOurLabel(p)) policyIndex.remove(p);
      caches.managed.assumed.observe(p.metadata.namespace, p.metadata.name, p.metadata.resourceVersion, true);
      if (concernsOperator(p)) onManaged(p);
    },
    // Written by us and deleted by someone within the watch's gap: no event says so; the namespace is repaired.
    relisted: (rv) => {
      for (const [ns] of caches.managed.assumed.goneAfterRelist(rv, (n, name) => caches.policies.get(name, n) !== undefined)) enqueue.namespace(ns);
    },
  });

  // The gate installed or removed (rare): every tenant's Gated condition may change, and tenants naming
  // members by label must go back to names at once if the label lost its guard.
  const gateChanged = (): void => {
    enqueue.gate();
    for (const obj of caches.tenants.list()) {
      enqueue.tenant(obj.metadata.name);
      if (t.peerModes.inUse(obj) === 'MembershipLabel') fanOut([obj.metadata.name]);
    }
    t.peerModes.guardChanged();
  };
  // A pod-gate binding changed (ours, or someone tampered): the gate is checked again, and the tenants whose
  // coverage by it changed re-read whether they are gated (a shared binding covers many: only those).
  const reserved = [...membership.reserved];
  const onBinding = (b: CachedBinding, old?: CachedBinding, gone = false): void => {
    t.gateBindings.observed(b, gone);
    if (b.metadata.name === MEMBER_LABEL_GUARD || b.metadata.name === MEMBERSHIP_GUARD) { gateChanged(); return; }
    if (b.metadata.labels?.[LABEL_MANAGED_BY] !== OPERATOR_NAME) return;
    enqueue.gate();
    for (const name of membership.tenantNames()) {
      const tenant = membership.tenant(name);
      if (!tenant) continue;
      const claims = claimsOf(tenant);
      const now = !gone && covers(b.metadata.name, b.selector, claims, reserved);
      const before = old !== undefined && covers(b.metadata.name, old.selector, claims, reserved);
      if (now !== before || (gone && covers(b.metadata.name, b.selector, claims, reserved))) enqueue.tenant(name);
    }
  };
  caches.bindings.on({ add: (b) => onBinding(b), update: (b, old) => onBinding(b, old), delete: (b) => onBinding(b, undefined, true) });
  caches.admissionPolicies.on({ add: gateChanged, delete: gateChanged });

  // The membership keys changed (our write coming back, or someone else's edit or delete): the gate
  // controller writes them again if they are not what the tenants need, and the tenants whose keys moved
  // in or out of the list report it.
  const onKeys = (c: CachedKeysConfigMap, old: CachedKeysConfigMap | undefined, gone = false): void => {
    t.membershipKeys.observed(c, gone);
    enqueue.gate();
    const before = keysOf(old?.labelKeys);
    const now = gone ? new Set<string>() : keysOf(c.labelKeys);
    const moved = new Set([...before].filter((k) => !now.has(k)).concat([...now].filter((k) => !before.has(k))));
    if (moved.size === 0) return;
    for (const name of membership.tenantNames()) {
      const tenant = membership.tenant(name);
      if (tenant && membershipKeys([tenant]).some((k) => moved.has(k))) enqueue.tenant(name);
    }
  };
  caches.membershipKeys.on({ add: (c) => onKeys(c, undefined), update: (c, old) => onKeys(c, old), delete: (c) => onKeys(c, c, true) });

  if (proof && caches.pods) {
    // The baseline's status (Audit) lists pods no policy selects.
    caches.pods.on({
      add: (p) => { proof.setPod(p); enqueue.baseline(); },
      update: (p) => { proof.setPod(p); enqueue.baseline(); },
      delete: (p) => { proof.deletePod(p); enqueue.baseline(); },
    });
  }

  return {
    namespaceReconciled: (ns) => {
      const h = held.get(ns);
      if (!h) return;
      held.delete(ns);
      for (const [p, old] of h) onPolicyEvent(p, old, false);
    },
  };
}

/** Whether the labels the operator does not own are the same on both versions of a namespace. */
function sameForeignLabels(ns: NamespaceObject, old: NamespaceObject | undefined): boolean {
  const foreign = (o: NamespaceObject | undefined): [string, string][] => Object.entries(o?.metadata.labels ?? {}).filter(([k]) => !k.startsWith(OPERATOR_LABEL_PREFIX));
  const a = foreign(ns);
  const b = new Map(foreign(old));
  return a.length === b.size && a.every(([k, v]) => b.get(k) === v);
}

/** Whether a re-parse leaves a tenant's indexed state as it is: the same effective spec and profile, or the same failure. */
function sameEffective(prev: ValidTenant | undefined, next: ReturnType<typeof parseTenant>): boolean {
  if (!prev) return !next.ok && next.claims === undefined;
  if (!next.ok) return prev.invalid === next.error;
  return prev.invalid === undefined && prev.profile === next.tenant.profile && JSON.stringify(prev.spec) === JSON.stringify(next.tenant.spec);
}
