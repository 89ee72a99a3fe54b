// Reconciles one namespace: plan (pure) -> diff against the cache -> the fewest writes, sent together ->
// Events and metrics after the writes. It keeps what only it knows: what it last applied (to tell
// someone's tampering from a declared change), when a namespace joined (time-to-isolation), and its last
// failure per namespace (the tenant status reports it).
import type { Logger } from 'pino';
import type { TenantIsolationObject, ValidTenant } from '../api/schema.ts';
import type { EventRecorder, EventTarget } from '../kube/events.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { strings } from '../kube/intern.ts';
import { isConflict, isNamespaceTerminating, isNotFound, type RestClient } from '../kube/rest.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import { narrowNamedPeers, planNamespace, policiesToApply, type NamespacePlan } from '../policy/desired.ts';
import { compactPolicy, isOperatorPolicy, ownedDigest, policyDrift, sameDigests, type CachedPolicy } from '../policy/diff.ts';
import { FIELD_MANAGER, LABEL_ISOLATED, LABEL_MEMBER_OF, LABEL_TENANT, POLICY_ALLOW_INTRA_TENANT, POLICY_BASELINE_DENY, POLICY_DEFAULT_DENY } from '../policy/labels.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject, NetworkPolicy } from '../policy/types.ts';
import type { ReconcileResult } from '../queue/workqueue.ts';
import type { BaselineState } from './baseline-state.ts';
import type { ManagedPolicies } from './caches.ts';
import type { DesiredPolicies } from './desired-policies.ts';
import { allWritten, policyPath, writePolicy } from './policy-write.ts';

/** The policies that deny everything not allowed: a namespace must never lose its last one. */
const isDeny = (name: string): boolean => name === POLICY_DEFAULT_DENY || name === POLICY_BASELINE_DENY;

export interface NamespaceReconcilerDeps {
  rest: RestClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  membership: MembershipIndex;
  /** Tenants whose spec is invalid, with the error: their namespaces are left as they are. */
  invalidTenants: ReadonlyMap<string, string>;
  namespaces: ResilientInformer<NamespaceObject>;
  tenants: ResilientInformer<TenantIsolationObject>;
  managed: ManagedPolicies;
  desired: DesiredPolicies;
  /** The cluster baseline: its policies in namespaces no enforcing tenant claims (absent: no baseline). */
  baseline?: BaselineState;
}

export const isTerminating = (ns: NamespaceObject): boolean =>
  ns.metadata.deletionTimestamp !== undefined || ns.status?.phase === 'Terminating';

export class NamespaceReconciler {
  private readonly d: NamespaceReconcilerDeps;
  /**
   * Digest of what we last applied, by namespace then policy name: tells someone's tampering from a declared
   * change. A member holding exactly its tenant's policies shares the tenant's digest map (one per tenant,
   * not one per namespace); it is never changed in place, only replaced.
   */
  private readonly lastApplied = new Map<string, ReadonlyMap<string, string>>();
  /** When each namespace became a member, until it is isolated (time-to-isolation). */
  private readonly joinedAt = new Map<string, number>();
  /** The last reconcile failure per namespace, until a reconcile succeeds. */
  private readonly failures = new Map<string, string>();
  /** Names the operator wants but someone else's policy holds, per namespace (reported, never overwritten). */
  private readonly clashes = new Map<string, readonly string[]>();
  /** The labels a namespace had after our last label write, until the namespace cache has caught up. */
  private readonly labelWrites = new Map<string, { labels: Readonly<Record<string, string>>; rv: bigint }>();
  /** Frozen members: the member set their intra-tenant peers were last checked against (narrowFrozenPeers). */
  private readonly peersChecked = new Map<string, string>();
  /** A clash is retried this often: without the proof, the squatter's removal is not watched. */
  static readonly CLASH_RETRY_MS = 30_000;

  /** Whether a stored policy is the operator's (a reserved name owned by a known tenant). */
  private readonly isOurs: (p: CachedPolicy) => boolean;

  constructor(deps: NamespaceReconcilerDeps) { this.d = deps; this.isOurs = (p) => isOperatorPolicy(p, deps.managed.tenantOfUid); }

  /** The namespace just became a member of a tenant: time-to-isolation runs from now. */
  noteJoined(name: string): void { if (!this.joinedAt.has(name)) this.joinedAt.set(name, performance.now()); }
  isJoining(name: string): boolean { return this.joinedAt.has(name); }
  /** The namespace is gone: forget what was kept about it. */
  forget(name: string): void {
    this.joinedAt.delete(name); this.lastApplied.delete(name); this.failures.delete(name); this.clashes.delete(name); this.labelWrites.delete(name); this.peersChecked.delete(name);
  }
  /**
   * The cached namespace is the echo of our own last label write (its resourceVersion). Once the cache
   * holds that write or anything newer, the write is forgotten: the cache is the truth again (kept, each
   * entry held a copy of the namespace's labels for as long as the operator ran).
   */
  isOwnLabelEcho(ns: NamespaceObject): boolean {
    const mine = this.labelWrites.get(ns.metadata.name);
    if (mine === undefined || ns.metadata.resourceVersion === undefined) return false;
    const rv = BigInt(ns.metadata.resourceVersion);
    if (rv >= mine.rv) this.labelWrites.delete(ns.metadata.name);
    return rv === mine.rv;
  }
  /** How many label writes are remembered until the cache shows them. */
  get rememberedLabelWrites(): number { return this.labelWrites.size; }
  /** Why the last reconcile of the namespace failed, until one succeeds. */
  lastError(name: string): string | undefined { return this.failures.get(name); }
  /** Policy names the operator could not write there because someone else's policy holds them. */
  clashesIn(name: string): readonly string[] { return this.clashes.get(name) ?? []; }

  async reconcile(name: string, log: Logger): Promise<ReconcileResult> {
    const succeeded = (): ReconcileResult => {
      this.failures.delete(name);
      return this.clashes.has(name) ? { requeueAfterMs: NamespaceReconciler.CLASH_RETRY_MS } : undefined;
    };
    const failed = (err: unknown): never => {
      this.failures.set(name, `reconcile failed, retrying: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500));
      throw err;
    };
    let last: Awaited<ReturnType<NamespaceReconciler['sync']>>;
    try {
      last = await this.sync(name, log.child({ namespace: name }));
    } catch (err) {
      return failed(err);
    }
    // The label patch, still running, ends the reconcile (its worker goes on meanwhile: workqueue.ts).
    return last ? { finishing: last.labels.then(succeeded, failed) } : succeeded();
  }

  /** Returns the label patch it started last, if any: it is part of the reconcile, but nothing after it waits. */
  private async sync(name: string, log: Logger): Promise<{ labels: Promise<void> } | undefined> {
    const d = this.d;
    const ns = d.namespaces.get(name);
    if (!ns) { this.joinedAt.delete(name); this.clashes.delete(name); return undefined; } // gone: its policies went with it
    // Left alone: writes would be refused, and the namespace's pods are going away with it.
    if (isTerminating(ns)) return undefined;
    // The operator's policies there: the cache, corrected by our own writes it has not seen yet.
    const existing = d.managed.in(name);
    // What an invalid tenant left is left as it is until its spec is fixed (it fails closed: at least a deny),
    // while the namespace is still its alone: its sole claimant, or unclaimed when the spec is too broken to
    // say what it claims. A namespace that has moved to another tenant, or that the invalid tenant's
    // selector no longer matches, is planned as any other, or it would keep the invalid tenant's allow
    // policies and member label (a path between two tenants) until the spec is fixed.
    const invalidOwner = (p: CachedPolicy): boolean => { const t = d.managed.tenantOfUid(p.owner!); return t !== undefined && d.invalidTenants.has(t); };
    const invalidOwners = new Set([...existing.values()].filter(invalidOwner).map((p) => d.managed.tenantOfUid(p.owner!)!));
    const claimants = d.membership.claimantsOf(name);
    const stillIts = (tenant: string): boolean => (d.membership.tenant(tenant) === undefined ? claimants.length === 0 : claimants.length === 1 && claimants[0] === tenant);
    if (invalidOwners.size > 0 && [...invalidOwners].every(stillIts)) {
      // Another tenant's allow policies do not belong here (a reconcile moving the namespace to the invalid
      // tenant was cut before deleting them): they go, which only narrows what the namespace admits, and a
      // deleting tenant's finalizer waits on them. Every deny stays, the baseline's too (the tenant's may be missing).
      const foreign = [...existing.values()].filter((p) => !invalidOwner(p) && !isDeny(p.metadata.name));
      await allWritten(foreign.map((p) => this.delete(p)));
      const applied = new Map(this.lastApplied.get(name));
      for (const p of foreign) applied.delete(p.metadata.name);
      const intra = existing.get(POLICY_ALLOW_INTRA_TENANT);
      if (intra !== undefined && invalidOwner(intra)) {
        const digest = await this.narrowFrozenPeers(name, intra);
        if (digest !== undefined) applied.set(POLICY_ALLOW_INTRA_TENANT, digest);
      }
      this.remember(name, applied, undefined);
      return undefined;
    }
    this.peersChecked.delete(name);
    const claiming = claimants.map((t) => d.membership.tenant(t)).filter((t): t is ValidTenant => t !== undefined);
    const plan = planNamespace(name, claiming, (t) => d.membership.membersOf(t), (t, members) => d.desired.templatesFor(t, members));
    // The baseline's policies where no enforcing tenant isolates the namespace (src/policy/baseline.ts).
    const baseline = d.baseline?.plan(name, ns.metadata.labels ?? {}, claiming);
    const wanted = [...policiesToApply(plan), ...(baseline?.policies ?? [])];
    const hadPolicies = existing.size > 0;
    // The operator's labels say what is in place: isolated=true (every policy it wants here is stored; the
    // pod gate admits pods only then) and member-of=<tenant> (others' intra-tenant policies may admit it).
    // A label that would say more than is true goes before the policies change; one is set only once they
    // are stored.
    const labels = this.operatorLabels(ns);
    const member = plan.kind === 'member' && plan.tenant.spec.mode === 'Enforce' && wanted.length > 0 ? plan.tenant.name : undefined;
    const isolated = wanted.length > 0 ? 'true' : undefined;
    // A name someone else's policy holds is never overwritten (reported, and retried): not every policy it
    // wants can be stored, so isolated=true (the pod gate's signal) goes before anything else.
    const squatted = new Set(wanted.filter((p) => !existing.has(p.metadata.name) && d.managed.squatter(name, p.metadata.name)).map((p) => p.metadata.name));
    const early: Record<string, null> = {};
    if (labels.member !== undefined && labels.member !== member) early[LABEL_MEMBER_OF] = null;
    if (labels.isolated !== undefined && (isolated === undefined || squatted.size > 0)) early[LABEL_ISOLATED] = null;
    if (Object.keys(early).length > 0) await this.patchLabels(name, early, log);

    // One digest per wanted policy: it decides drift and is what we remember as applied.
    const digests = plan.kind === 'member' ? d.desired.digestsOf(plan.tenant) : undefined;
    const checked = wanted.map((p) => {
      const digest = digests?.get(p.metadata.name) ?? baseline?.digests.get(p.metadata.name) ?? strings.intern(ownedDigest(p));
      return { p, digest, drift: policyDrift(p, existing.get(p.metadata.name), digest) };
    });
    // Already as wanted: remembered as ours below, so a later edit by someone else is recognised as tampering.
    const before = this.lastApplied.get(name);
    const adopted = checked.filter((c) => c.drift === undefined && !before?.has(c.p.metadata.name));
    const clashes = new Set(squatted);
    let writes = checked.filter((w) => w.drift !== undefined && !clashes.has(w.p.metadata.name));
    // All writes at once: every subset of a namespace's managed policies is at least as restrictive as none,
    // and each only narrows what the others allow, so no write order opens a path.
    try {
      const outcomes = await allWritten(writes.map((w) => this.write(w.p, existing.get(w.p.metadata.name))));
      writes.forEach((w, i) => { if (outcomes[i] === 'clash') clashes.add(w.p.metadata.name); });
      writes = writes.filter((w) => !clashes.has(w.p.metadata.name));
    } catch (err) {
      if (isNamespaceTerminating(err)) { log.debug('namespace began terminating during reconcile'); return undefined; }
      throw err;
    }
    this.reportClashes(name, plan, [...clashes].sort(), log);
    const wantedNames = new Set(wanted.map((p) => p.metadata.name));
    // Written first, deleted after: a namespace swapping baseline and tenant policies always holds a deny
    // (and keeps the baseline's while a policy it should hold instead cannot be written).
    const ownDeny = wanted.some((p) => p.metadata.name === POLICY_DEFAULT_DENY) && !clashes.has(POLICY_DEFAULT_DENY);
    const denyClashed = [...clashes].some(isDeny);
    /** A policy no longer wanted that stays for now, so the namespace is never left without a deny. */
    const staysForNow = (p: CachedPolicy): boolean => {
      // The deny it should hold now could not be written (its name is someone else's): the one it holds stays.
      if (denyClashed && isDeny(p.metadata.name)) return true;
      // Leaving its tenant while the baseline is invalid (nobody can say whether it covers the namespace):
      // the tenant's deny stays until the baseline is fixed. Not when the tenant is going away, whose
      // finalizer waits for its policies.
      if (plan.kind === 'unclaimed' && p.metadata.name === POLICY_DEFAULT_DENY && (d.baseline?.invalid() ?? false)
        && d.membership.tenant(d.managed.tenantOfUid(p.owner!) ?? '') !== undefined) return true;
      return d.baseline?.keeps(p.metadata.name, clashes.size > 0, ownDeny) ?? false;
    };
    const stale = [...existing.values()].filter((p) => !wantedNames.has(p.metadata.name) && !staysForNow(p));
    await allWritten(stale.map((p) => this.delete(p)));
    const late: Record<string, string | null> = {};
    if (clashes.size === 0 && member !== undefined && labels.member !== member) late[LABEL_MEMBER_OF] = member;
    if (clashes.size === 0 && isolated !== undefined && labels.isolated !== isolated) late[LABEL_ISOLATED] = isolated;
    // A clash found only by the write (the cache had not seen the squatter yet).
    if (clashes.size > 0 && labels.isolated !== undefined && !(LABEL_ISOLATED in early)) late[LABEL_ISOLATED] = null;

    for (const w of writes) {
      const last = before?.get(w.p.metadata.name);
      const current = existing.get(w.p.metadata.name);
      // Tampering: what is stored is no longer what we last wrote (edited, or deleted by someone else).
      const tampered = last !== undefined && (current === undefined || current.ownedDigest !== last);
      const tenant = w.p.metadata.labels?.[LABEL_TENANT] ?? '';
      if (tampered) {
        d.metrics.driftCorrections.inc();
        log.info({ tenant, policy: w.p.metadata.name, drift: w.drift }, 'restored managed policy');
        // A tenant's policy names its tenant; the baseline's names none and is owned by the IsolationBaseline.
        const target = tenant !== '' ? d.membership.tenant(tenant) : d.baseline?.eventTargetOf(w.p);
        if (target) d.events.record(target, 'Normal', 'PolicyRestored', `Restored NetworkPolicy ${name}/${w.p.metadata.name} (${w.drift === 'missing' ? 'it was deleted' : 'it was changed'})`);
      } else if (current !== undefined) {
        log.info({ tenant, policy: w.p.metadata.name, changed: w.drift }, 'updated managed policy');
      }
    }
    // A reconcile that changed nothing (every resync) keeps the record as it is, without copying it.
    if (adopted.length > 0 || writes.length > 0 || stale.length > 0) {
      const applied = new Map(before);
      for (const c of [...adopted, ...writes]) applied.set(c.p.metadata.name, c.digest);
      for (const p of stale) applied.delete(p.metadata.name);
      this.remember(name, applied, digests);
    }
    if (writes.length > 0 && !hadPolicies && plan.kind === 'member') {
      log.info({ tenant: plan.tenant.name, policies: writes.map((w) => w.p.metadata.name) }, 'isolated namespace');
      const names = writes.map((w) => w.p.metadata.name).join(', ');
      d.events.recordBatched(plan.tenant, 'Normal', 'NamespaceIsolated', name, (items) => (items.length === 1
        ? `Isolated namespace ${items[0]}: applied ${names}`
        : `Isolated ${items.length} namespaces: ${items.join(', ')}`));
    }
    if (baseline && writes.length > 0 && !baseline.policies.some((p) => existing.has(p.metadata.name))) d.baseline?.noteIsolated(name);
    if (stale.length > 0) this.reportRemoved(name, plan, stale, log);
    this.observeIsolation(name, plan);
    // Last, once every policy it wants is stored: the labels that say so (see reconcile).
    return Object.keys(late).length > 0 ? { labels: this.patchLabels(name, late, log) } : undefined;
  }

  /**
   * A member frozen by its invalid tenant keeps that tenant's intra-tenant policy, but one listing peers
   * by name must not keep admitting a namespace that has left the tenant since (or was deleted and made
   * again under its name by someone else): those names are dropped, nothing is added. Read once per
   * change of the tenant's members (the cache keeps no spec). Returns the digest of what it wrote.
   */
  private async narrowFrozenPeers(name: string, intra: CachedPolicy): Promise<string | undefined> {
    const tenant = this.d.managed.tenantOfUid(intra.owner!)!;
    // A spec too broken to say what it claims: who left is unknown, and its members stay as they were.
    if (this.d.membership.tenant(tenant) === undefined) return undefined;
    const allowed = new Set([...this.d.membership.membersOf(tenant), name]);
    const key = `${tenant}:${[...allowed].sort().join(',')}`;
    if (this.peersChecked.get(name) === key) return undefined;
    const path = policyPath(name, POLICY_ALLOW_INTRA_TENANT);
    let live: NetworkPolicy;
    try { live = await this.d.rest.get<NetworkPolicy>(path); } catch (err) { if (isNotFound(err)) return undefined; throw err; }
    const spec = live.metadata.ownerReferences?.some((o) => o.controller === true && o.uid === intra.owner) ? narrowNamedPeers(live.spec, allowed) : undefined;
    let digest: string | undefined;
    if (spec !== undefined) {
      // A replace at the version read: a concurrent write (Conflict) fails the reconcile, which retries.
      const stored = compactPolicy(await this.d.rest.update<NetworkPolicy>(path, { ...live, spec }, FIELD_MANAGER), { string: (s) => strings.intern(s) });
      this.d.managed.assumed.assume(stored);
      digest = stored.ownedDigest;
    }
    this.peersChecked.set(name, key);
    return digest;
  }

  /** Keeps what a reconcile applied: the tenant's digest map itself when they are equal. */
  private remember(name: string, applied: Map<string, string>, tenantDigests: ReadonlyMap<string, string> | undefined): void {
    if (applied.size === 0) this.lastApplied.delete(name);
    else if (tenantDigests !== undefined && sameDigests(applied, tenantDigests)) this.lastApplied.set(name, tenantDigests);
    else this.lastApplied.set(name, applied);
  }

  private reportRemoved(name: string, plan: NamespacePlan, stale: readonly CachedPolicy[], log: Logger): void {
    const byTenant = new Map<string, string[]>();
    for (const p of stale) {
      const t = p.metadata.labels?.[LABEL_TENANT] ?? '';
      byTenant.set(t, [...(byTenant.get(t) ?? []), p.metadata.name]);
    }
    for (const [t, names] of byTenant) {
      const tenant = this.eventTarget(t);
      log.info({ tenant: t, policies: names }, 'removed managed policies');
      if (tenant) this.d.events.record(tenant, 'Normal', 'PoliciesRemoved', `Removed ${names.join(', ')} from namespace ${name}: ${reasonForRemoval(plan, t)}`);
    }
  }

  /**
   * A member of an enforcing tenant now holds its policies: time-to-isolation ends here. Any other plan
   * ends the join untimed (Audit, a conflict, an invalid tenant): kept, it would jump the queue on every
   * event and time a later switch to Enforce from the join days before.
   */
  private observeIsolation(name: string, plan: NamespacePlan): void {
    if (plan.kind !== 'member' || plan.tenant.spec.mode !== 'Enforce') { this.joinedAt.delete(name); return; }
    const since = this.joinedAt.get(name);
    if (since === undefined) return;
    this.d.metrics.timeToIsolation.observe((performance.now() - since) / 1000);
    this.joinedAt.delete(name);
  }

  private eventTarget(tenant: string): EventTarget | undefined {
    const valid = this.d.membership.tenant(tenant);
    if (valid) return valid;
    const obj = this.d.tenants.get(tenant);
    return obj ? { name: tenant, uid: obj.metadata.uid } : undefined;
  }

  /** The namespace's operator labels: as we last wrote them until the cache shows that write, else the cache's. */
  private operatorLabels(ns: NamespaceObject): { member: string | undefined; isolated: string | undefined } {
    const mine = this.labelWrites.get(ns.metadata.name);
    const labels = mine && BigInt(ns.metadata.resourceVersion ?? '0') < mine.rv ? mine.labels : ns.metadata.labels;
    if (labels !== mine?.labels) this.labelWrites.delete(ns.metadata.name);
    return { member: labels?.[LABEL_MEMBER_OF], isolated: labels?.[LABEL_ISOLATED] };
  }

  private async patchLabels(name: string, labels: Record<string, string | null>, log: Logger): Promise<void> {
    const stored = await this.d.rest.mergePatch<NamespaceObject>(`/api/v1/namespaces/${name}`, { metadata: { labels } }, FIELD_MANAGER);
    this.labelWrites.set(name, { labels: stored.metadata.labels ?? {}, rv: BigInt(stored.metadata.resourceVersion ?? '0') });
    log.info({ labels }, 'wrote the operator\'s namespace labels');
  }

  private reportClashes(name: string, plan: NamespacePlan, names: string[], log: Logger): void {
    const before = this.clashes.get(name) ?? [];
    if (names.length === 0) { this.clashes.delete(name); return; }
    this.clashes.set(name, names);
    const fresh = names.filter((n) => !before.includes(n));
    if (fresh.length === 0 || plan.kind === 'unclaimed' || plan.kind === 'conflict') return;
    log.warn({ tenant: plan.tenant.name, policies: fresh }, 'policy name held by a policy that is not the operator\'s; not overwritten');
    this.d.events.record(plan.tenant, 'Warning', 'PolicyNameClash', `NetworkPolicy ${fresh.join(', ')} in namespace ${name} is not the operator's (a user's, or made before the admission gate): it is never overwritten; rename or delete it, and until then the namespace is not isolated`);
  }

  /** Writes one policy (src/controller/policy-write.ts); what it stores is remembered until the watch shows it. */
  private async write(desired: NetworkPolicy, current: CachedPolicy | undefined): Promise<'written' | 'clash'> {
    const r = await writePolicy(this.d.rest, this.isOurs, desired, current);
    if (r.outcome === 'written') this.d.managed.assumed.assume(r.stored);
    return r.outcome;
  }

  private async delete(p: CachedPolicy): Promise<void> {
    try {
      await this.d.rest.delete(policyPath(p.metadata.namespace, p.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: p.metadata.resourceVersion } });
      this.d.managed.assumed.assumeDeleted(p.metadata.namespace, p.metadata.name, p.metadata.resourceVersion);
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err; // a failed precondition is a Conflict
    }
  }
}

function reasonForRemoval(plan: NamespacePlan, tenant: string): string {
  if (plan.kind === 'unclaimed') return `it is no longer a member of tenant ${tenant}`;
  if (plan.kind === 'member' && plan.tenant.name === tenant && plan.tenant.spec.mode === 'Audit') return 'the tenant is in Audit mode';
  if (plan.kind === 'member' && plan.tenant.name === tenant) return 'the tenant no longer declares them';
  if (plan.kind === 'failClosed' && plan.tenant.name === tenant) return 'the tenant\'s spec is invalid: only a default-deny stays';
  return `it now belongs to ${plan.kind === 'member' || plan.kind === 'failClosed' ? `tenant ${plan.tenant.name}` : 'several tenants'}`;
}
