// Reconciles one TenantIsolation: its finalizer, and a truthful status computed by a pure function from
// the caches (tenant-status.ts), written when it changed, with the Events its transitions call for
// recorded after the write. Namespaces are the namespace controller's job: events reach it through the
// manager's handlers, never through this reconciler.
import type { Logger } from 'pino';
import { FINALIZER, PLURAL, API_VERSION, TENANT_STATUS_LIST_MAX, parseTenant, type NamespaceStatus, type ParsedTenant, type PeerMode, type TenantIsolationObject, type TenantIsolationStatus, type ValidTenant } from '../api/schema.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { isConflict, isNotFound, type RestClient } from '../kube/rest.ts';
import { claimsOf } from '../admission/policies.ts';
import { FIELD_MANAGER, LABEL_MEMBER_OF } from '../policy/labels.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject } from '../policy/types.ts';
import type { DrainWaiters } from '../queue/drain-waiters.ts';
import type { ReconcileResult } from '../queue/workqueue.ts';
import type { ManagedPolicies } from './caches.ts';
import type { DesiredPolicies } from './desired-policies.ts';
import type { ManagedPolicyIndex } from './indexes.ts';
import type { IsolationProof } from './isolation-proof.ts';
import { isTerminating } from './namespace-reconciler.ts';
import type { GateBindings } from './gate-bindings.ts';
import { statusPatch } from './fleet-status.ts';
import { invalidTenantStatus, statusDiffers, tenantStatus, type MembershipGuardState, type NamespaceFacts, type TenantStatusResult } from './tenant-status.ts';

/** What the namespace controller reports of its work on a namespace. */
export interface NamespaceProgress {
  /** Work for the namespace is queued or running. */
  busy(namespace: string): boolean;
  lastError(namespace: string): string | undefined;
  /** Names the operator wants there that someone else's policy holds. */
  clashes(namespace: string): readonly string[];
}

export interface TenantReconcilerDeps {
  rest: RestClient;
  events: EventRecorder;
  membership: MembershipIndex;
  invalidTenants: ReadonlyMap<string, string>;
  tenants: ResilientInformer<TenantIsolationObject>;
  namespaces: ResilientInformer<NamespaceObject>;
  managed: ManagedPolicies;
  policyIndex: ManagedPolicyIndex;
  desired: DesiredPolicies;
  proof: IsolationProof | undefined;
  progress: NamespaceProgress;
  gate: GateBindings;
  /** Whether the admission gate guards the member label right now. */
  labelGuarded: () => boolean;
  /** How the tenant's intra-tenant policies name its members now (peer-modes.ts). */
  peersOf: (tenant: string) => PeerMode;
  /** The membership guard: installed, and the keys it lists. */
  membershipGuard: () => MembershipGuardState;
  /** Parses a tenant into its effective spec (default: without profiles). */
  parse?: (obj: TenantIsolationObject) => ParsedTenant;
  /** A monotonic clock in ms (default performance.now): paces the status computation. */
  clock?: () => number;
  /** Namespaces being isolated (work queued or running): routine status writes wait for it, woken when it drains. */
  isolating?: Pick<DrainWaiters, 'busy' | 'wakeAfter'>;
}

const tenantPath = (name: string): string => `/apis/${API_VERSION}/${PLURAL}/${name}`;

export class TenantReconciler {
  /**
   * When each tenant's status was last written: while joins keep coming, routine updates (the namespace
   * list) are written at most once per window; a condition that flips is written at once. At 100 joins a
   * second across 40 tenants a 250 ms window still wrote 0.7 status patches per namespace.
   */
  private readonly lastStatusWrite = new Map<string, number>();
  static readonly STATUS_WINDOW_MS = 1_000;
  /**
   * When each tenant's status may be computed again. It costs O(namespaces), and every namespace
   * reconcile, policy event and label write queues the tenant: without a pause, a burst of N joins into
   * one tenant cost O(N^2) and starved the namespace workers. The pause is COMPUTE_PAUSE times what the
   * last computation took, at most STATUS_WINDOW_MS: a few tenths of a millisecond for a small tenant,
   * a few computations a second for a tenant of thousands.
   */
  private readonly nextCompute = new Map<string, number>();
  static readonly COMPUTE_PAUSE = 20;
  /**
   * Isolation before reporting: while namespaces are being isolated, a tenant's routine status update (one
   * that flips no condition) waits until the namespace queue drains, for at most HOLD_MAX_MS from when it
   * was first held. It is woken (DrainWaiters), not polled: a held tenant costs no reconcile meanwhile. In
   * a burst the apiserver's time goes to the policies and labels that isolate, and the status is written
   * once the burst is over (at 100 joins a second across 40 tenants: 0.40 patches per namespace, 0.80
   * without the hold; each is one of the apiserver's costliest writes).
   */
  private readonly heldSince = new Map<string, number>();
  static readonly HOLD_MAX_MS = 2_000;
  /**
   * For a tenant whose status list is cut (over TENANT_STATUS_LIST_MAX namespaces): every entry of the
   * status it holds, the one this operator wrote or computed alike. A settled namespace the list leaves
   * out then keeps its state while it is reconciled again (a spec change, a join rewriting every member by
   * name), instead of holding the status back until all of them settle. About 100 bytes per namespace,
   * for big tenants only; after a restart it is rebuilt at the first status that needs no write.
   */
  private readonly reported = new Map<string, { status: TenantIsolationStatus; all: ReadonlyMap<string, NamespaceStatus> }>();
  private readonly d: TenantReconcilerDeps;

  constructor(deps: TenantReconcilerDeps) { this.d = deps; }

  forget(name: string): void {
    this.lastStatusWrite.delete(name); this.nextCompute.delete(name); this.heldSince.delete(name); this.reported.delete(name);
    this.d.desired.forget(name); this.d.gate.forget(name);
  }

  async reconcile(name: string, log: Logger): Promise<ReconcileResult> {
    const d = this.d;
    const obj = d.tenants.get(name);
    if (!obj) { this.forget(name); return; }

    if (obj.metadata.deletionTimestamp) {
      if (!obj.metadata.finalizers?.includes(FINALIZER)) return;
      // The handlers queued the namespaces that still hold its policies; their deletion brings us back.
      const holding = d.policyIndex.namespacesOf(name).filter((ns) => [...d.managed.in(ns).values()].some((p) => p.owner === obj.metadata.uid));
      if (holding.length > 0) return { requeueAfterMs: 2_000 };
      await this.patchFinalizers(obj, (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
      log.info({ tenant: name }, 'removed all managed policies; released finalizer');
      return;
    }
    if (!obj.metadata.finalizers?.includes(FINALIZER)) {
      await this.patchFinalizers(obj, [...(obj.metadata.finalizers ?? []), FINALIZER]);
    }

    const now = new Date();
    const tenant = this.parsed(obj);
    if (tenant.invalid !== undefined) {
      // Fail closed: the namespaces it still names stay gated (the gate controller binds them).
      const claims = tenant.claims && { tenant: tenant.claims, gate: d.gate.factsFor(claimsOf(tenant.claims)) };
      const result = invalidTenantStatus(obj, tenant.invalid, now, tenant.claims?.invalidReason, { claims, membershipGuard: d.membershipGuard(), proof: d.proof !== undefined });
      // A binding too recent to be in force: Gated is re-checked once it is.
      const again = claims?.gate.retryAfterMs !== undefined ? { requeueAfterMs: claims.gate.retryAfterMs } : undefined;
      if (!await this.writeStatus(obj, result.status)) return again;
      if (result.events.length > 0) log.warn({ tenant: name, generation: obj.metadata.generation, error: tenant.invalid }, 'invalid TenantIsolation spec; its namespaces fail closed');
      this.recordEvents(obj, result, log);
      return again;
    }
    // A new spec is reported at once; otherwise at most one computation per pause (come back after it).
    const clock = d.clock ?? performance.now.bind(performance);
    const wait = (this.nextCompute.get(name) ?? 0) - clock();
    if (wait > 0 && obj.status?.observedGeneration === obj.metadata.generation) return { requeueAfterMs: Math.ceil(wait) };
    const t0 = clock();
    const gate = d.gate.factsFor(claimsOf(tenant.valid));
    const result = tenantStatus({
      object: obj, tenant: tenant.valid, now, gate, membershipGuard: d.membershipGuard(),
      memberDigests: d.desired.digestsOf(tenant.valid),
      namespaces: this.facts(tenant.valid),
      excluded: d.membership.excludedFor(name),
      memberLabel: { guarded: d.labelGuarded(), strays: this.strays(tenant.valid), inUse: d.peersOf(name) },
      breaches: d.proof?.breaches(name),
      previousAll: this.previousAll(name, obj.status),
    });
    const took = clock() - t0;
    this.nextCompute.set(name, t0 + took + Math.min(TenantReconciler.STATUS_WINDOW_MS, TenantReconciler.COMPUTE_PAUSE * took));
    // A binding too recent to be in force: Gated is re-checked once it is.
    const again = gate.retryAfterMs !== undefined ? { requeueAfterMs: gate.retryAfterMs } : undefined;
    // A namespace still being reconciled will settle and bring us back.
    if (result.settling) return again;
    // Nothing to write: a hold that was waiting for this update is over (the next one starts its own).
    if (!statusDiffers(obj.status ?? {}, result.status)) { this.heldSince.delete(name); this.remember(name, result); return again; }
    // Coalesce: within the window after a write, come back once when it ends (the latest state lands).
    // A condition changing status (Ready or Isolated flipping) is written at once; routine updates wait.
    // Reconciling is routine: it turns True whenever members are being rewritten (every join, while members
    // are named), and writing each turn at once would cost two writes per join.
    const since = Date.now() - (this.lastStatusWrite.get(name) ?? 0);
    const flipped = (result.status.conditions ?? []).some((c) => c.type !== 'Reconciling' && obj.status?.conditions?.find((x) => x.type === c.type)?.status !== c.status)
      || result.status.intraTenantPeers !== obj.status?.intraTenantPeers;
    if (!flipped) {
      if (since < TenantReconciler.STATUS_WINDOW_MS) return { requeueAfterMs: Math.min(TenantReconciler.STATUS_WINDOW_MS - since, again?.requeueAfterMs ?? Infinity) };
      if (d.isolating?.busy) {
        const held = this.heldSince.get(name) ?? clock();
        this.heldSince.set(name, held);
        const left = TenantReconciler.HOLD_MAX_MS - (clock() - held);
        if (left > 0) { d.isolating.wakeAfter(name, left); return again; }
      }
    }
    this.heldSince.delete(name);
    this.lastStatusWrite.set(name, Date.now());
    if (await this.writeStatus(obj, result.status)) { this.remember(name, result); this.recordEvents(obj, result, log); }
    return again;
  }

  /** The full list behind a cut status, if it is the status the object holds now. */
  private previousAll(name: string, status: TenantIsolationStatus | undefined): ReadonlyMap<string, NamespaceStatus> | undefined {
    const r = this.reported.get(name);
    return r !== undefined && status !== undefined && !statusDiffers(status, r.status) ? r.all : undefined;
  }

  private remember(name: string, result: TenantStatusResult): void {
    if (result.all.length > TENANT_STATUS_LIST_MAX) this.reported.set(name, { status: result.status, all: new Map(result.all.map((n) => [n.name, n])) });
    else this.reported.delete(name);
  }

  /** The parsed spec: the index's copy when it is of this very object and generation, else parsed now. */
  private parsed(obj: TenantIsolationObject): { valid: ValidTenant; invalid?: undefined } | { invalid: string; claims: ValidTenant | undefined } {
    const known = this.d.membership.tenant(obj.metadata.name);
    if (known && known.uid === obj.metadata.uid && known.generation === (obj.metadata.generation ?? 0)) {
      return known.invalid === undefined ? { valid: known } : { invalid: known.invalid, claims: known };
    }
    const parsed = (this.d.parse ?? parseTenant)(obj);
    return parsed.ok ? { valid: parsed.tenant } : { invalid: parsed.error, claims: parsed.claims };
  }

  /** Namespaces carrying this tenant's member label that are not its members (set while the label was unguarded). */
  private strays(tenant: ValidTenant): string[] {
    const labelled = this.d.membership.namespacesLabelled(LABEL_MEMBER_OF, tenant.name);
    if (labelled.length === 0) return [];
    // A set: every member carries the label, so a list lookup per namespace was O(members^2).
    const members = new Set(this.d.membership.membersOf(tenant.name));
    return labelled.filter((ns) => !members.has(ns));
  }

  /** What the caches show of every namespace the tenant claims, and of the ones it names that do not exist. */
  private facts(tenant: ValidTenant): NamespaceFacts[] {
    const d = this.d;
    const out: NamespaceFacts[] = d.membership.claimedBy(tenant.name).map((name) => {
      const ns = d.namespaces.get(name);
      const stored = new Map<string, string>();
      let frozenBy: string | undefined;
      for (const [policy, p] of d.managed.in(name)) {
        stored.set(policy, p.ownedDigest);
        const owner = d.managed.tenantOfUid(p.owner!);
        if (owner !== undefined && d.invalidTenants.has(owner)) frozenBy ??= owner;
      }
      const claimants = d.membership.claimantsOf(name);
      return {
        name, missing: false, terminating: ns !== undefined && isTerminating(ns), claimants,
        // As the conflict plan decides (desired.ts): a deny only where one claimant enforces.
        ...(claimants.length > 1 ? { conflictEnforced: claimants.some((c) => d.membership.tenant(c)?.spec.mode === 'Enforce') } : {}),
        stored, frozenBy, lastError: d.progress.lastError(name), busy: d.progress.busy(name), clashes: d.progress.clashes(name),
        memberLabel: ns?.metadata.labels?.[LABEL_MEMBER_OF],
      };
    });
    // A name listed twice is one namespace (the status list is keyed by name: a duplicate is refused).
    for (const name of new Set(tenant.spec.namespaces)) {
      if (!d.membership.hasNamespace(name)) out.push({ name, missing: true, terminating: false, claimants: [tenant.name], stored: new Map(), frozenBy: undefined, lastError: undefined, busy: false, clashes: [], memberLabel: undefined });
    }
    return out;
  }

  private recordEvents(obj: TenantIsolationObject, result: TenantStatusResult, log: Logger): void {
    const target = { name: obj.metadata.name, uid: obj.metadata.uid };
    for (const e of result.events) {
      if (e.reason === 'IsolationBreached') log.warn({ tenant: obj.metadata.name, message: e.message }, 'isolation breached');
      this.d.events.record(target, e.type, e.reason, e.message);
    }
  }

  /** Writes the status if it changed; whether it was written (false: unchanged, or the tenant is gone). */
  private async writeStatus(obj: TenantIsolationObject, next: TenantIsolationStatus): Promise<boolean> {
    if (!statusDiffers(obj.status ?? {}, next)) return false;
    try {
      // statusPatch: a field the status no longer has (status.profile) is removed.
      await this.d.rest.mergePatch(`${tenantPath(obj.metadata.name)}/status`, { status: statusPatch(obj.status, next) }, FIELD_MANAGER);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  private async patchFinalizers(obj: TenantIsolationObject, finalizers: string[]): Promise<void> {
    try {
      // resourceVersion makes the merge patch conditional: never clobber someone else's finalizer edit.
      await this.d.rest.mergePatch(tenantPath(obj.metadata.name), { metadata: { finalizers, resourceVersion: obj.metadata.resourceVersion } }, FIELD_MANAGER);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) throw new Error(`TenantIsolation ${obj.metadata.name} changed while updating finalizers; retrying`, { cause: err });
      throw err;
    }
  }
}
