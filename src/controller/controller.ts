// Wires informers -> indexes -> work queue -> reconcilers. Event handlers only update indexes and
// enqueue keys; all decisions happen in reconcile, from the caches, so the controller is level-triggered:
// restarting it at any moment converges to the same state.
import type { Logger } from 'pino';
import { API_VERSION, PLURAL, parseTenant, type TenantIsolationObject } from '../api/schema.ts';
import { MembershipIndex } from '../policy/membership.ts';
import { LABEL_MANAGED_BY, LABEL_TENANT, MANAGED_SELECTOR, OPERATOR_NAME } from '../policy/labels.ts';
import type { NamespaceObject } from '../policy/types.ts';
import { compactPolicy, type CachedPolicy } from '../policy/diff.ts';
import { ResilientInformer, keepOnly, type RawObject } from '../kube/informer.ts';
import { ValueInterner, internLabels, strings } from '../kube/intern.ts';
import { isConflict, type RestClient } from '../kube/rest.ts';
import { EventRecorder } from '../kube/events.ts';
import { AssumedWrites } from '../kube/assumed.ts';
import { WorkQueue } from '../queue/workqueue.ts';
import { CONTROLLER, type OperatorMetrics } from '../metrics/metrics.ts';
import { nsKey, tenantKey, type ControllerContext, type NamespaceOutcome } from './context.ts';
import { reconcileNamespace } from './namespace-reconciler.ts';
import { TenantReconciler } from './tenant-reconciler.ts';
import { IsolationProof, compactPod, type CachedPod } from './isolation-proof.ts';
import type { NetworkPolicy, NetworkPolicySpec } from '../policy/types.ts';
import { randomUUID } from 'node:crypto';

export interface ControllerOptions {
  concurrency: number;
  identity: string;
  /** Periodic re-enqueue of everything as a safety net (ms); 0 disables. */
  resyncPeriodMs: number;
  /** Analyse reachability and report the Isolated condition (watches Pods and all NetworkPolicies). */
  isolationProof: boolean;
}

export class TenantIsolationController {
  readonly queue: WorkQueue;
  readonly ctx: ControllerContext;
  readonly informers: ResilientInformer<RawObject>[];
  private readonly tenantReconciler: TenantReconciler;
  private readonly nsInformer: ResilientInformer<NamespaceObject>;
  private readonly tiInformer: ResilientInformer<TenantIsolationObject>;
  private readonly npInformer: ResilientInformer<CachedPolicy>;
  private resyncTimer: NodeJS.Timeout | undefined;
  private gaugeTimer: NodeJS.Timeout | undefined;
  private readonly opts: ControllerOptions;
  /** Policies carrying our managed-by label (the informer holds users' too when the proof is on). */
  private managedCount = 0;

  constructor(rest: RestClient, metrics: OperatorMetrics, log: Logger, opts: ControllerOptions) {
    this.opts = opts;
    const index = new MembershipIndex();
    const ctx: ControllerContext = {
      log, rest, metrics, index,
      events: new EventRecorder(rest, log, opts.identity),
      namespaces: { get: (n) => this.nsInformer.get(n), list: () => this.nsInformer.list() },
      tenants: { get: (n) => this.tiInformer.get(n), list: () => this.tiInformer.list() },
      policies: {
        get: (n, ns) => { const p = this.npInformer.get(n, ns); return p && isManaged(p) ? p : undefined; },
        list: (ns) => this.npInformer.list(ns).filter(isManaged),
      },
      assumed: new AssumedWrites<CachedPolicy>(),
      lastApplied: new Map(),
      invalidTenants: new Map(),
      policyNamespacesByTenant: new Map(),
      outcomes: new Map<string, NamespaceOutcome>(),
      memberSince: new Map(),
      proof: opts.isolationProof ? new IsolationProof(index, (t) => this.queue.add(tenantKey(t))) : undefined,
      enqueueNamespace: (n, priority) => this.queue.add(nsKey(n), priority),
      enqueueTenant: (n) => this.queue.add(tenantKey(n)),
    };
    this.ctx = ctx;
    this.tenantReconciler = new TenantReconciler(ctx);
    metrics.maxConcurrent.set({ controller: CONTROLLER }, opts.concurrency);
    this.queue = new WorkQueue((key) => this.reconcile(key), { concurrency: opts.concurrency, observer: metrics.queueObserver() });

    this.nsInformer = new ResilientInformer(rest, '/api/v1/namespaces', {
      add: (ns) => this.onNamespace(ns),
      update: (ns) => this.onNamespace(ns),
      delete: (ns) => {
        ctx.proof?.deleteNamespace(ns.metadata.name);
        const changed = index.deleteNamespace(ns.metadata.name);
        if (changed.size > 0) ctx.proof?.tenantsChanged(changed);
        for (const t of changed) ctx.enqueueTenant(t);
        ctx.memberSince.delete(ns.metadata.name);
        ctx.lastApplied.delete(ns.metadata.name);
        ctx.enqueueNamespace(ns.metadata.name);
      },
    }, log);
    this.tiInformer = new ResilientInformer(rest, `/apis/${API_VERSION}/${PLURAL}`, {
      add: (t) => this.onTenant(t),
      update: (t) => this.onTenant(t),
      delete: (t) => {
        const name = t.metadata.name;
        ctx.invalidTenants.delete(name);
        const changed = index.deleteTenant(name);
        ctx.proof?.tenantsChanged([name, ...changed]);
        for (const other of changed) ctx.enqueueTenant(other);
        for (const ns of ctx.policyNamespacesByTenant.get(name)?.keys() ?? []) ctx.enqueueNamespace(ns);
        this.tenantReconciler.forget(name);
      },
    }, log);
    // One policy informer. Without the proof it watches only our policies; with it, every policy (the
    // proof reads users' too), and reconcilers see the managed ones through ctx.policies.
    const proof = ctx.proof;
    const specs = new ValueInterner<NetworkPolicySpec>();
    this.npInformer = new ResilientInformer(rest, '/apis/networking.k8s.io/v1/networkpolicies', {
      add: (p) => {
        proof?.setPolicy(p as unknown as NetworkPolicy);
        if (isManaged(p)) this.onPolicy(p, +1);
      },
      update: (p, old) => {
        proof?.setPolicy(p as unknown as NetworkPolicy);
        const was = isManaged(old) ? old.metadata.labels?.[LABEL_TENANT] ?? '' : undefined;
        const is = isManaged(p) ? p.metadata.labels?.[LABEL_TENANT] ?? '' : undefined;
        if (was !== undefined && was !== is) this.onPolicy(old, -1);
        if (is !== undefined) this.onPolicy(p, was === is ? 0 : +1);
      },
      delete: (p) => {
        proof?.deletePolicy(p as unknown as NetworkPolicy);
        if (isManaged(p)) this.onPolicy(p, -1);
      },
    }, log, { labelSelector: proof ? undefined : MANAGED_SELECTOR });
    this.informers = [this.nsInformer, this.tiInformer, this.npInformer] as unknown as ResilientInformer<RawObject>[];
    // Cache only what reconcile reads, with one copy of each repeated string and spec; TenantIsolations
    // stay whole (their status is compared).
    const nsFields = keepOnly(['status'], ['name', 'labels', 'deletionTimestamp', 'resourceVersion']);
    const statuses = new ValueInterner<object>();
    this.nsInformer.transform = (raw) => {
      const o = nsFields(raw);
      const m = o.metadata as NamespaceObject['metadata'];
      m.name = strings.intern(m.name);
      m.labels = internLabels(m.labels);
      if (o.status) o.status = statuses.intern(o.status);
      return o;
    };
    const labelSets = new ValueInterner<Record<string, string>>();
    // Our own writes come back as events of the version we already hashed: reuse that digest.
    const knownDigest = (p: NetworkPolicy): string | undefined => {
      const mine = ctx.assumed.peek(p.metadata.namespace, p.metadata.name);
      return mine && mine.metadata.resourceVersion === p.metadata.resourceVersion ? mine.ownedDigest : undefined;
    };
    this.npInformer.transform = (o) => compactPolicy(o as unknown as NetworkPolicy, {
      string: (s) => strings.intern(s), labels: (l) => labelSets.intern(l), spec: proof ? (s) => specs.intern(s) : undefined, knownDigest,
      // Users' policies (cached for the proof) are never compared with what we want: no digest for them.
      needsDigest: isManaged,
    }) as unknown as Record<string, unknown>;
    const resources = ['namespaces', 'tenantisolations', 'networkpolicies'];
    if (proof) {
      // The proof reads every pod too, reduced to the fields analysis needs.
      const pods = new ResilientInformer<CachedPod>(rest, '/api/v1/pods', {
        add: (p) => proof.setPod(p), update: (p) => proof.setPod(p), delete: (p) => proof.deletePod(p),
      }, log);
      pods.transform = compactPod;
      this.informers.push(pods as unknown as ResilientInformer<RawObject>);
      resources.push('pods');
    }
    this.informers.forEach((inf, i) => { inf.onRestart = (reason) => metrics.watchRestarts.inc({ resource: resources[i]!, reason }); });
    metrics.observe(() => this.queue.inFlight, () => this.informers.map((inf, i) => ({ resource: resources[i]!, ageSeconds: inf.lastEventAgeSeconds })));
  }

  get synced(): boolean { return this.informers.every((i) => i.hasSynced); }

  /** Doing work: keys queued or in flight, or a watch event within the last second. */
  get busy(): boolean {
    return this.queue.depth > 0 || this.queue.inFlight.size > 0 || this.informers.some((i) => i.lastEventAgeSeconds < 1);
  }

  /** Starts informers, waits for their caches, then starts workers. */
  async start(): Promise<void> {
    await this.startCaches();
    this.startWorkers();
  }

  /** Informers run on standbys too, so a new leader starts with warm caches. */
  async startCaches(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.start()));
    await Promise.all(this.informers.map((i) => i.waitForSync()));
    this.ctx.log.info({ namespaces: this.nsInformer.list().length, tenants: this.tiInformer.list().length }, 'caches synced');
  }

  /** Begins reconciling (the leader only): every object was enqueued by the initial list. */
  startWorkers(): void {
    this.ctx.proof?.start();
    this.queue.start();
    // Gauges walk every outcome: once a second, not once per reconcile.
    this.gaugeTimer = setInterval(() => this.updateGauges(), 1000);
    this.gaugeTimer.unref();
    if (this.opts.resyncPeriodMs > 0) {
      this.resyncTimer = setInterval(() => this.resync(), this.opts.resyncPeriodMs);
      this.resyncTimer.unref();
    }
    this.ctx.log.info({ concurrency: this.opts.concurrency }, 'workers started');
  }

  /** Re-enqueues every object: a reconcile of an unchanged cluster makes zero writes. */
  resync(): void {
    for (const t of this.tiInformer.list()) this.ctx.enqueueTenant(t.metadata.name);
    for (const ns of this.nsInformer.list()) this.ctx.enqueueNamespace(ns.metadata.name);
  }

  /** Stops taking keys, finishes in-flight reconciles, stops watches. */
  async stop(): Promise<void> {
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.gaugeTimer) clearInterval(this.gaugeTimer);
    this.ctx.proof?.stop();
    this.ctx.events.flush();
    await this.queue.shutdown();
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  private async reconcile(key: string): Promise<{ requeueAfterMs?: number } | void> {
    const kind = key.slice(0, 2);
    const name = key.slice(3);
    const reconcileID = randomUUID();
    const log = this.ctx.log.child({ reconcileID, key });
    const t0 = performance.now();
    try {
      if (kind === 'ns') { await reconcileNamespace({ ...this.ctx, log }, name); return; }
      return await this.tenantReconciler.reconcile(name);
    } catch (err) {
      // An optimistic-concurrency conflict is routine (the object changed under us), not an alert.
      log[isConflict(err) ? 'info' : 'error']({ err: err instanceof Error ? err.message : String(err), durationMs: Math.round(performance.now() - t0) }, 'reconcile failed; will retry with backoff');
      throw err;
    } finally {
      log.debug({ durationMs: +(performance.now() - t0).toFixed(2) }, 'reconciled');
    }
  }

  private onNamespace(ns: NamespaceObject): void {
    const name = ns.metadata.name;
    this.ctx.proof?.setNamespace(name, ns.metadata.labels);
    const changed = this.ctx.index.setNamespace(name, ns.metadata.labels);
    if (changed.size > 0) this.ctx.proof?.tenantsChanged(changed);
    if (changed.size > 0 && this.ctx.index.claimantsOf(name).length > 0 && this.ctx.outcomes.get(name)?.state !== 'Isolated') {
      if (!this.ctx.memberSince.has(name)) this.ctx.memberSince.set(name, performance.now());
    }
    // A namespace waiting for its first isolation jumps the queue.
    this.ctx.enqueueNamespace(name, this.ctx.memberSince.has(name));
    for (const t of changed) this.ctx.enqueueTenant(t);
  }

  private onTenant(obj: TenantIsolationObject): void {
    const name = obj.metadata.name;
    const known = this.ctx.index.tenant(name);
    // Our own status and finalizer writes come back as updates with the same generation: the spec, and so
    // membership, did not change (controller-runtime's GenerationChangedPredicate). Re-indexing would cost
    // O(namespaces) per status write.
    if (known && !obj.metadata.deletionTimestamp && known.uid === obj.metadata.uid && known.generation === (obj.metadata.generation ?? 0)) {
      this.ctx.enqueueTenant(name);
      return;
    }
    const parsed = parseTenant(obj);
    let changed: Set<string>;
    if (parsed.ok && !obj.metadata.deletionTimestamp) {
      this.ctx.invalidTenants.delete(name);
      changed = this.ctx.index.setTenant(parsed.tenant);
    } else {
      if (!parsed.ok && !obj.metadata.deletionTimestamp) this.ctx.invalidTenants.set(name, parsed.error);
      else this.ctx.invalidTenants.delete(name);
      changed = this.ctx.index.deleteTenant(name);
    }
    // Its spec changed even when its claims did not (e.g. a new allow rule): the proof re-reads it.
    this.ctx.proof?.tenantsChanged([name, ...changed]);
    this.ctx.enqueueTenant(name);
    for (const t of changed) this.ctx.enqueueTenant(t);
  }

  private onPolicy(p: CachedPolicy, delta: number): void {
    this.managedCount += delta;
    const ns = p.metadata.namespace;
    const tenant = p.metadata.labels?.[LABEL_TENANT];
    if (tenant !== undefined && delta !== 0) {
      let m = this.ctx.policyNamespacesByTenant.get(tenant);
      if (!m) { m = new Map(); this.ctx.policyNamespacesByTenant.set(tenant, m); }
      const n = (m.get(ns) ?? 0) + delta;
      if (n > 0) m.set(ns, n); else m.delete(ns);
      if (m.size === 0) this.ctx.policyNamespacesByTenant.delete(tenant);
      if (delta < 0) this.ctx.enqueueTenant(tenant); // finalizer progress
    }
    this.ctx.enqueueNamespace(ns);
  }

  updateGauges(): void {
    const m = this.ctx.metrics;
    const counts: Record<string, number> = { Isolated: 0, Pending: 0, Conflict: 0, Terminating: 0, WouldIsolate: 0 };
    for (const o of this.ctx.outcomes.values()) counts[o.state] = (counts[o.state] ?? 0) + 1;
    for (const [state, n] of Object.entries(counts)) m.namespaces.set({ state }, n);
    m.conflicts.set(counts.Conflict ?? 0);
    m.managedPolicies.set(this.managedCount);
    // Tenants by condition that is True, as the shipped alerts read them (e.g. condition="Stalled").
    const byCondition: Record<string, number> = { all: 0, Ready: 0, Isolated: 0, Reconciling: 0, Stalled: 0 };
    for (const t of this.tiInformer.list()) {
      byCondition.all = (byCondition.all ?? 0) + 1;
      for (const c of t.status?.conditions ?? []) if (c.status === 'True') byCondition[c.type] = (byCondition[c.type] ?? 0) + 1;
    }
    for (const [condition, n] of Object.entries(byCondition)) m.tenants.set({ condition }, n);
    const breaches = [...(this.ctx.proof?.counts.values() ?? [])];
    m.breachedTenants.set(breaches.length);
    m.breaches.set(breaches.reduce((a, b) => a + b, 0));
  }
}

const isManaged = (p: { metadata: { labels?: Readonly<Record<string, string>> } }): boolean => p.metadata.labels?.[LABEL_MANAGED_BY] === OPERATOR_NAME;
