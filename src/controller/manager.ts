// The manager wires one cache set to the controllers, as controller-runtime's manager does:
//   informers (caches.ts) -> handlers.ts (indexes, proof, keys) -> namespace controller / tenant controller
//                                                                  (/ profile and baseline status)
// The namespace controller writes policies (tenants' and the baseline's); the tenant controller keeps
// finalizers and status; the profile and baseline controllers only write their status. Each has its own
// queue, workers, backoff and metric labels (controller="namespace" / "tenantisolation" /
// "isolationprofile" / "isolationbaseline"). The one signal between them: a namespace reconcile that ends
// (settled or failed) queues the tenants that claim it, whose status reports that namespace, and the
// baseline.
import type { Logger } from 'pino';
import { EventRecorder } from '../kube/events.ts';
import type { RestClient } from '../kube/rest.ts';
import { BASELINE_CONTROLLER, GATE_CONTROLLER, NAMESPACE_CONTROLLER, PROFILE_CONTROLLER, TENANT_CONTROLLER, type FleetCounts, type OperatorMetrics } from '../metrics/metrics.ts';
import { BASELINE_NAME, parseTenant } from '../api/schema.ts';
import { BASELINE_OWNER } from '../policy/baseline.ts';
import { LABEL_MEMBER_OF } from '../policy/labels.ts';
import { MembershipIndex } from '../policy/membership.ts';
import { MEMBERSHIP_GUARD } from '../admission/policies.ts';
import { MembershipKeys } from './membership-keys.ts';
import { countFleetStatuses, type MembershipGuardState } from './tenant-status.ts';
import { Controller } from '../queue/controller.ts';
import { DrainWaiters } from '../queue/drain-waiters.ts';
import { buildCaches, type ClusterCaches } from './caches.ts';
import { DesiredPolicies } from './desired-policies.ts';
import { wireHandlers } from './handlers.ts';
import { ManagedPolicyIndex } from './indexes.ts';
import { IsolationProof } from './isolation-proof.ts';
import { NamespaceReconciler } from './namespace-reconciler.ts';
import { PeerModes } from './peer-modes.ts';
import { TenantReconciler } from './tenant-reconciler.ts';
import { GateBindings, memberLabelGuarded } from './gate-bindings.ts';
import { claimsOf } from '../admission/policies.ts';
import { BaselineState } from './baseline-state.ts';
import { BaselineReconciler } from './baseline-reconciler.ts';
import { ProfileIndex } from './profile-index.ts';
import { ProfileReconciler } from './profile-reconciler.ts';

export interface ManagerOptions {
  /** Workers of the namespace controller (the one writing policies). */
  concurrency: number;
  /** Workers of the tenant controller (finalizers and status). */
  tenantConcurrency: number;
  identity: string;
  /** Periodic re-enqueue of everything as a safety net (ms); 0 disables. */
  resyncPeriodMs: number;
  /** Analyse reachability and report the Isolated condition (watches Pods and all NetworkPolicies). */
  isolationProof: boolean;
  /** Namespaces no tenant may claim (the operator's own among them). */
  reservedNamespaces: readonly string[];
  /** Where the membership guard's param, the ConfigMap tenant-isolation-membership-keys, lives. */
  operatorNamespace: string;
}

export class Manager {
  /** How long after a namespace reconcile ends its tenants are queued (their status reports it). */
  static readonly NAMESPACE_SETTLE_MS = 50;
  /** How long a namespace created while we watch waits before its first isolation (Enqueue.newNamespace). */
  static readonly NEW_NAMESPACE_DELAY_MS = 2;
  readonly caches: ClusterCaches;
  readonly namespaceController: Controller;
  readonly tenantController: Controller;
  /** Keeps the pod-gate bindings (one key: they are shared between tenants). */
  readonly gateController: Controller;
  readonly profileController: Controller;
  readonly baselineController: Controller;
  readonly events: EventRecorder;
  readonly proof: IsolationProof | undefined;
  private readonly membership: MembershipIndex;
  private readonly policyIndex = new ManagedPolicyIndex();
  /** The last status counts for /metrics, and the cache changes they were counted at. */
  private counted: { at: string; counts: Pick<FleetCounts, 'tenants' | 'namespaces' | 'peerModes'> } | undefined;
  private cachesSynced = false;
  private readonly log: Logger;
  private readonly metrics: OperatorMetrics;
  private readonly opts: ManagerOptions;
  /** Whether the admission gate guards the member label, as the caches see it now. */
  readonly labelGuarded: () => boolean;
  private resyncTimer: NodeJS.Timeout | undefined;

  constructor(rest: RestClient, metrics: OperatorMetrics, log: Logger, opts: ManagerOptions) {
    this.log = log; this.metrics = metrics; this.opts = opts;
    this.membership = new MembershipIndex(opts.reservedNamespaces);
    const tenantUids = new Map<string, string>();
    // The baseline's policies are the operator's too: their owner's uid answers BASELINE_OWNER (called on
    // cache events only, after `baseline` exists).
    this.caches = buildCaches(rest, log, { withProof: opts.isolationProof, tenantOfUid: (uid) => tenantUids.get(uid) ?? (baseline.ownsUid(uid) ? BASELINE_OWNER : undefined), operatorNamespace: opts.operatorNamespace });
    this.events = new EventRecorder(rest, log, opts.identity);
    const baseline = new BaselineState(this.caches.baselines, this.membership.reserved, this.events);
    // The baseline's status counts namespaces and pods: queued on their changes only while there is one
    // (its own events queue it when it appears).
    const enqueueBaseline = (): void => { if (baseline.object()) this.baselineController.enqueue(BASELINE_NAME); };
    const profiles = new ProfileIndex((name) => this.caches.profiles.get(name));
    const invalidTenants = new Map<string, string>();
    // The member label may be relied on only while the admission gate makes it the operator's alone.
    const labelGuarded = (): boolean => memberLabelGuarded(this.caches.admissionPolicies, this.caches.bindings);
    const peerModes = new PeerModes({ guarded: labelGuarded, tenant: (t) => this.caches.tenants.get(t), holdsPolicies: (t) => this.policyIndex.holds(t),
      labelled: (t) => this.membership.namespacesLabelled(LABEL_MEMBER_OF, t).length > 0, synced: () => this.cachesSynced });
    const desired = new DesiredPolicies(this.membership, (t) => peerModes.of(t));
    const namespaceReconciler = new NamespaceReconciler({
      rest, events: this.events, metrics, membership: this.membership, invalidTenants,
      namespaces: this.caches.namespaces, tenants: this.caches.tenants, managed: this.caches.managed, desired, baseline,
    });
    this.labelGuarded = labelGuarded;
    this.namespaceController = new Controller({
      name: NAMESPACE_CONTROLLER, concurrency: opts.concurrency, log, metrics,
      reconcile: (ns, l) => namespaceReconciler.reconcile(ns, l),
      // Its tenants' status reads what the reconcile left, and whether the namespace is still busy: they
      // are queued once it is done, not from inside it (they would see it busy, and wait for an event
      // that our own writes' echoes no longer send: handlers.ts). Those ending within a settle window
      // make one status pass, not one each (a fleet edit ends all of a tenant's namespaces together).
      settled: (ns) => {
        handlers.namespaceReconciled(ns);
        for (const t of this.membership.claimantsOf(ns)) this.tenantController.enqueueAfter(t, Manager.NAMESPACE_SETTLE_MS);
        enqueueBaseline();
      },
    });
    // Isolation before reporting: routine status writes and Event batches wait while namespaces are isolated.
    const isolating = new DrainWaiters(this.namespaceController.queue, (t) => this.tenantController.enqueue(t));
    this.events.hold = new DrainWaiters(this.namespaceController.queue, (key) => this.events.wake(key));
    this.proof = opts.isolationProof ? new IsolationProof(this.membership, (t) => this.tenantController.enqueue(t)) : undefined;
    // One gate for the cluster: its bindings are shared by the tenants (one per label key).
    const gate = new GateBindings(rest, this.caches.bindings, this.caches.admissionPolicies, () => this.membership.tenantNames()
      .map((t) => this.membership.tenant(t)).filter((t) => t !== undefined).map(claimsOf), opts.reservedNamespaces);
    // The membership keys first: a new tenant's selector key is guarded before anything else is written for it.
    const keys = new MembershipKeys(rest, this.caches.membershipKeys, this.caches.tenants, opts.operatorNamespace);
    this.gateController = new Controller({
      name: GATE_CONTROLLER, concurrency: 1, log, metrics,
      reconcile: async (_key, l) => { await keys.sync(l); await gate.sync(l); },
    });
    const membershipGuard = (): MembershipGuardState => ({
      installed: this.caches.admissionPolicies.get(MEMBERSHIP_GUARD) !== undefined && this.caches.bindings.get(MEMBERSHIP_GUARD) !== undefined,
      guarded: keys.guarded(),
    });
    const tenantReconciler = new TenantReconciler({
      rest, events: this.events, membership: this.membership, invalidTenants,
      tenants: this.caches.tenants, namespaces: this.caches.namespaces, managed: this.caches.managed,
      policyIndex: this.policyIndex, desired, proof: this.proof,
      progress: { busy: (ns) => this.namespaceController.isPending(ns), lastError: (ns) => namespaceReconciler.lastError(ns), clashes: (ns) => namespaceReconciler.clashesIn(ns) },
      gate, labelGuarded, peersOf: (t) => peerModes.of(t), membershipGuard,
      parse: (obj) => parseTenant(obj, profiles.lookup),
      isolating,
    });
    this.tenantController = new Controller({
      name: TENANT_CONTROLLER, concurrency: opts.tenantConcurrency, log, metrics,
      reconcile: (t, l) => tenantReconciler.reconcile(t, l),
    });
    const profileReconciler = new ProfileReconciler({ rest, events: this.events, profiles: this.caches.profiles, index: profiles });
    this.profileController = new Controller({ name: PROFILE_CONTROLLER, concurrency: 1, log, metrics, reconcile: (p, l) => profileReconciler.reconcile(p, l) });
    const baselineReconciler = new BaselineReconciler({
      rest, events: this.events, state: baseline, namespaces: this.caches.namespaces, membership: this.membership, managed: this.caches.managed, proof: this.proof,
    });
    this.baselineController = new Controller({ name: BASELINE_CONTROLLER, concurrency: 1, log, metrics, reconcile: (b, l) => baselineReconciler.reconcile(b, l) });
    const handlers = wireHandlers({
      caches: this.caches, membership: this.membership, invalidTenants, tenantUids, policyIndex: this.policyIndex, profiles, proof: this.proof,
      namespaceReconciler, tenantReconciler, peerModes, membershipKeys: keys, gateBindings: gate, reconciling: (ns) => this.namespaceController.queue.inFlight.has(ns),
      enqueue: {
        namespace: (n, priority) => this.namespaceController.enqueue(n, priority),
        newNamespace: (n) => this.namespaceController.enqueueAfter(n, Manager.NEW_NAMESPACE_DELAY_MS, true), tenant: (t) => this.tenantController.enqueue(t), tenantStatus: (t) => this.tenantController.enqueueAfter(t, Manager.NAMESPACE_SETTLE_MS), gate: () => this.gateController.enqueue('cluster'),
        profile: (p) => this.profileController.enqueue(p), baseline: enqueueBaseline,
      },
    });
    for (const { resource, informer } of this.caches.all) informer.onRestart = (reason) => metrics.watchRestarts.inc({ resource, reason });
    metrics.observeWatches(() => this.caches.all.map(({ resource, informer }) => ({ resource, ageSeconds: informer.lastEventAgeSeconds })));
  }

  private get controllers(): Controller[] { return [this.namespaceController, this.tenantController, this.gateController, this.profileController, this.baselineController]; }

  get synced(): boolean { return this.caches.all.every(({ informer }) => informer.hasSynced); }

  /** Doing work: keys queued or in flight, or a watch event within the last second. */
  get busy(): boolean {
    return this.controllers.some((c) => c.queue.busy) || this.caches.all.some(({ informer }) => informer.lastEventAgeSeconds < 1);
  }

  /** Informers run on standbys too, so a new leader starts with warm caches. */
  async startCaches(): Promise<void> {
    await Promise.all(this.caches.all.map(({ informer }) => informer.start()));
    await Promise.all(this.caches.all.map(({ informer }) => informer.waitForSync()));
    this.cachesSynced = true;
    this.log.info({ namespaces: this.caches.namespaces.size, tenants: this.caches.tenants.size }, 'caches synced');
  }

  /** Begins reconciling (the leader only): every object was enqueued by the initial list. */
  startWorkers(): void {
    this.proof?.start();
    for (const c of this.controllers) c.start();
    // The fleet gauges walk every tenant's status when scraped, not per reconcile or on a timer.
    this.metrics.observeFleet(() => this.fleetCounts());
    this.metrics.observeEvents(() => this.events.pending);
    if (this.opts.resyncPeriodMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncPeriodMs);
      this.resyncTimer.unref();
    }
    this.log.info({ concurrency: this.opts.concurrency, tenantConcurrency: this.opts.tenantConcurrency }, 'workers started');
  }

  /** Re-enqueues every object: a reconcile of an unchanged cluster makes zero writes. */
  resync(): void {
    this.gateController.enqueue('cluster');
    for (const t of this.caches.tenants.list()) this.tenantController.enqueue(t.metadata.name);
    for (const ns of this.caches.namespaces.list()) this.namespaceController.enqueue(ns.metadata.name);
    for (const p of this.caches.profiles.list()) this.profileController.enqueue(p.metadata.name);
    this.baselineController.enqueue(BASELINE_NAME);
  }

  /** Resolves once both controllers are idle at the same time (each can queue work for the other). */
  async idle(): Promise<void> {
    while (this.controllers.some((c) => c.queue.busy)) {
      for (const c of this.controllers) await c.idle();
    }
  }

  /** Stops taking keys, finishes in-flight reconciles, stops watches. */
  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.proof?.stop();
    await Promise.all(this.controllers.map((c) => c.shutdown()));
    // After the drain: the last reconciles' batched Events (held up to 5 s) go out with the rest, and are
    // sent before the caller releases the lease (which fences and cuts writes still in flight).
    this.events.flush();
    await Promise.all([this.events.idle(), ...this.caches.all.map(({ informer }) => informer.stop())]);
  }

  /** What the fleet gauges report: tenants by condition, namespaces by state, peer modes, policies, breaches. */
  fleetCounts(): FleetCounts {
    const breaches = [...(this.proof?.counts.values() ?? [])];
    return { ...this.statusCounts(), managedPolicies: this.policyIndex.count, breaches: breaches.reduce((a, b) => a + b, 0), breachedTenants: breaches.length };
  }

  /**
   * What the tenants' statuses say, counted again only once the tenant or namespace cache changed: a
   * scrape of an idle operator allocates nothing in proportion to the fleet (at 10 000 namespaces a
   * recount is a 10 000-entry map, and frequent scrapes promoted it into the old generation).
   */
  private statusCounts(): Pick<FleetCounts, 'tenants' | 'namespaces' | 'peerModes'> {
    const at = `${this.caches.tenants.changeCount}/${this.caches.namespaces.changeCount}`;
    if (this.counted?.at !== at) this.counted = { at, counts: this.countStatuses() };
    return this.counted.counts;
  }

  private countStatuses(): Pick<FleetCounts, 'tenants' | 'namespaces' | 'peerModes'> {
    return countFleetStatuses(this.caches.tenants.list(), (ns) => this.membership.hasNamespace(ns));
  }
}
