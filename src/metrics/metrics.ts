// Prometheus metrics with controller-runtime's names, types, labels and buckets, so dashboards and
// alerts written for Go controllers work unchanged, plus the isolation facts only this operator knows.
// No label carries a namespace or tenant name: cardinality stays bounded at any cluster size.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueObserver } from '../queue/workqueue.ts';
import { NAMESPACE_STATES } from '../api/schema.ts';
import { TENANT_CONDITIONS } from './fleet-labels.ts';

/** The controllers' names: their `controller` label, and their queues' `name`, as in controller-runtime. */
export const NAMESPACE_CONTROLLER = 'namespace';
export const TENANT_CONTROLLER = 'tenantisolation';
export const GATE_CONTROLLER = 'admissiongate';
export const PROFILE_CONTROLLER = 'isolationprofile';
export const BASELINE_CONTROLLER = 'isolationbaseline';

const RECONCILE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
  1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const WORKQUEUE_BUCKETS = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000];

/** The fleet as the operator sees it, counted when /metrics is scraped (Manager.fleetCounts). */
export interface FleetCounts {
  /** TenantIsolations by condition that is True, and `all`. */
  tenants: Readonly<Record<string, number>>;
  /** Tenant namespaces by the state their tenants report. */
  namespaces: Readonly<Record<string, number>>;
  /** Enforcing tenants by how their intra-tenant policies name members. */
  peerModes: Readonly<Record<string, number>>;
  managedPolicies: number;
  breaches: number;
  breachedTenants: number;
}

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly maxConcurrent: Gauge<'controller'>;
  readonly activeWorkers: Gauge<'controller'>;
  readonly queueDepth: Gauge<'name' | 'controller'>;
  readonly queueAdds: Counter<'name' | 'controller'>;
  readonly queueDuration: Histogram<'name' | 'controller'>;
  readonly workDuration: Histogram<'name' | 'controller'>;
  readonly queueRetries: Counter<'name' | 'controller'>;
  readonly leaderStatus: Gauge<'name'>;
  readonly tenants: Gauge<'condition'>;
  readonly namespaces: Gauge<'state'>;
  readonly managedPolicies: Gauge;
  readonly driftCorrections: Counter;
  readonly heapReliefs: Counter;
  readonly conflicts: Gauge;
  readonly timeToIsolation: Histogram;
  readonly apiWrites: Counter<'verb' | 'resource'>;
  readonly breaches: Gauge;
  readonly breachedTenants: Gauge;
  readonly watchRestarts: Counter<'resource' | 'reason'>;
  readonly unfinishedWork: Gauge<'name' | 'controller'>;
  readonly longestRunning: Gauge<'name' | 'controller'>;
  readonly watchAge: Gauge<'resource'>;
  readonly peerModes: Gauge<'mode'>;
  readonly eventsPending: Gauge;
  /** Keys in flight per controller, read at scrape time. */
  private readonly inFlight = new Map<string, () => ReadonlyMap<string, number>>();
  private watches: () => { resource: string; ageSeconds: number }[] = () => [];
  private events: () => number = () => 0;
  private fleet: (() => FleetCounts) | undefined;
  private fleetCounted: FleetCounts | undefined;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const r = [this.registry];
    this.reconcileTotal = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers: r });
    this.reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers: r });
    this.reconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: RECONCILE_BUCKETS, registers: r });
    this.maxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Maximum number of concurrent reconciles per controller', labelNames: ['controller'], registers: r });
    this.activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Number of currently used workers per controller', labelNames: ['controller'], registers: r });
    this.queueDepth = new Gauge({ name: 'workqueue_depth', help: 'Current depth of workqueue', labelNames: ['name', 'controller'], registers: r });
    this.queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Total number of adds handled by workqueue', labelNames: ['name', 'controller'], registers: r });
    this.queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name', 'controller'], buckets: WORKQUEUE_BUCKETS, registers: r });
    this.workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes', labelNames: ['name', 'controller'], buckets: WORKQUEUE_BUCKETS, registers: r });
    this.queueRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name', 'controller'], registers: r });
    this.leaderStatus = new Gauge({ name: 'leader_election_master_status', help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master', labelNames: ['name'], registers: r });
    // Fleet gauges are counted from the caches when scraped (controller-runtime's collectors), not on a
    // timer: an operator nobody scrapes walks no tenant list, and a scrape sees the counts of that moment.
    const fleet = (): FleetCounts | undefined => this.fleetCounts();
    this.tenants = new Gauge({
      name: 'tenant_isolation_tenants', help: 'TenantIsolations by condition that is True (Ready, Isolated, Reconciling, Stalled) and all', labelNames: ['condition'], registers: r,
      // reset(): a label value the count no longer has goes (it would keep its last value otherwise).
      collect() { const f = fleet(); if (f) { this.reset(); for (const [condition, n] of Object.entries(f.tenants)) this.set({ condition }, n); } },
    });
    for (const condition of TENANT_CONDITIONS) this.tenants.set({ condition }, 0);
    this.namespaces = new Gauge({
      name: 'tenant_isolation_namespaces', help: 'Tenant namespaces by state', labelNames: ['state'], registers: r,
      collect() { const f = fleet(); if (f) { this.reset(); for (const [state, n] of Object.entries(f.namespaces)) this.set({ state }, n); } },
    });
    for (const state of NAMESPACE_STATES) this.namespaces.set({ state }, 0);
    this.managedPolicies = new Gauge({
      name: 'tenant_isolation_managed_policies', help: 'NetworkPolicies the operator manages', registers: r,
      collect() { const f = fleet(); if (f) this.set(f.managedPolicies); },
    });
    this.driftCorrections = new Counter({ name: 'tenant_isolation_drift_corrections_total', help: 'Managed policies restored after someone edited or deleted them', registers: r });
    this.conflicts = new Gauge({
      name: 'tenant_isolation_conflicts', help: 'Namespaces claimed by more than one tenant (failed closed)', registers: r,
      collect() { const f = fleet(); if (f) this.set(f.namespaces.Conflict ?? 0); },
    });
    this.timeToIsolation = new Histogram({ name: 'tenant_isolation_time_to_isolation_seconds', help: 'From a namespace becoming a tenant member (as seen by the operator) to all its policies stored', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: r });
    this.apiWrites = new Counter({ name: 'tenant_isolation_api_writes_total', help: 'Writes the operator sent to the apiserver, by verb and resource', labelNames: ['verb', 'resource'], registers: r });
    this.breaches = new Gauge({
      name: 'tenant_isolation_breaches', help: 'Undeclared allowed paths into or out of tenants (reachability analysis of the live cluster)', registers: r,
      collect() { const f = fleet(); if (f) this.set(f.breaches); },
    });
    this.breachedTenants = new Gauge({
      name: 'tenant_isolation_breached_tenants', help: 'Tenants with Isolated=False: at least one undeclared path', registers: r,
      collect() { const f = fleet(); if (f) this.set(f.breachedTenants); },
    });
    this.breaches.set(0); this.breachedTenants.set(0); this.managedPolicies.set(0); this.conflicts.set(0);
    this.peerModes = new Gauge({
      name: 'tenant_isolation_intra_tenant_peers', help: 'Enforcing tenants by how their intra-tenant policies name members: MembershipLabel (a join costs the same at any size) or NamespaceNames', labelNames: ['mode'], registers: r,
      collect() { const f = fleet(); if (f) for (const [mode, n] of Object.entries(f.peerModes)) this.set({ mode }, n); },
    });
    for (const mode of ['MembershipLabel', 'NamespaceNames']) this.peerModes.set({ mode }, 0);
    this.heapReliefs = new Counter({ name: 'tenant_isolation_heap_reliefs_total', help: 'Compacting collections run once work stopped after a burst, returning the free heap to the OS (src/runtime/heap-relief.ts)', registers: r });
    this.watchRestarts = new Counter({ name: 'tenant_isolation_watch_restarts_total', help: 'Informer restarts, by reason: error (a failed list or watch), silence (a watch silent past the limit), expired (410 Gone: relisted)', labelNames: ['resource', 'reason'], registers: r });
    // prom-client calls collect() with the metric as `this`; the sources live on the OperatorMetrics.
    const sources = { inFlight: this.inFlight, watches: () => this.watches(), events: () => this.events() };
    this.unfinishedWork = new Gauge({
      name: 'workqueue_unfinished_work_seconds', help: 'How many seconds of work has been done that is in progress and hasn\'t been observed by work_duration', labelNames: ['name', 'controller'], registers: r,
      collect() {
        const now = Date.now();
        for (const [name, inFlight] of sources.inFlight) { let sum = 0; for (const t of inFlight().values()) sum += (now - t) / 1000; this.set({ name, controller: name }, sum); }
      },
    });
    this.longestRunning = new Gauge({
      name: 'workqueue_longest_running_processor_seconds', help: 'How many seconds has the longest running processor for workqueue been running', labelNames: ['name', 'controller'], registers: r,
      collect() {
        const now = Date.now();
        for (const [name, inFlight] of sources.inFlight) { let max = 0; for (const t of inFlight().values()) max = Math.max(max, (now - t) / 1000); this.set({ name, controller: name }, max); }
      },
    });
    this.watchAge = new Gauge({
      name: 'tenant_isolation_watch_last_event_age_seconds', help: 'Seconds since each watch last delivered an event or reconnected', labelNames: ['resource'], registers: r,
      collect() { for (const w of sources.watches()) this.set({ resource: w.resource }, w.ageSeconds); },
    });
    this.eventsPending = new Gauge({
      name: 'tenant_isolation_events_pending', help: 'Events not yet stored: batches waiting for their window (up to 5 s after the previous one) and sends in flight', registers: r,
      collect() { this.set(sources.events()); },
    });
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The fleet's counts, read at scrape time (at most once per scrape). */
  observeFleet(counts: () => FleetCounts): void { this.fleet = counts; this.fleetCounted = undefined; }

  /**
   * One count serves every gauge of a scrape: a scrape collects its metrics in one run of microtasks, so the
   * count is dropped on the next turn of the event loop.
   */
  private fleetCounts(): FleetCounts | undefined {
    if (!this.fleet) return undefined;
    if (!this.fleetCounted) {
      this.fleetCounted = this.fleet();
      setImmediate(() => { this.fleetCounted = undefined; });
    }
    return this.fleetCounted;
  }

  /** Events not yet stored, read at scrape time. */
  observeEvents(pending: () => number): void { this.events = pending; }

  /** Watch ages, read at scrape time. */
  observeWatches(watches: () => { resource: string; ageSeconds: number }[]): void { this.watches = watches; }

  /**
   * Registers a controller: its label combinations start at 0 (as controller-runtime pre-creates them) and
   * its queue reports through the returned observer; `inFlight` feeds the unfinished-work gauges.
   */
  controller(name: string, concurrency: number, inFlight: () => ReadonlyMap<string, number>): QueueObserver {
    const c = { controller: name };
    const q = { name, controller: name };
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) this.reconcileTotal.inc({ ...c, result }, 0);
    this.reconcileErrors.inc(c, 0);
    this.maxConcurrent.set(c, concurrency);
    this.activeWorkers.set(c, 0);
    this.queueDepth.set(q, 0);
    this.queueAdds.inc(q, 0);
    this.queueRetries.inc(q, 0);
    this.inFlight.set(name, inFlight);
    let active = 0;
    return {
      add: () => this.queueAdds.inc(q),
      depth: (d) => this.queueDepth.set(q, d),
      started: (_k, queued) => { this.queueDuration.observe(q, queued); this.activeWorkers.set(c, ++active); },
      finished: (_k, secs, outcome) => {
        this.activeWorkers.set(c, --active);
        this.workDuration.observe(q, secs);
        this.reconcileTime.observe(c, secs);
        this.reconcileTotal.inc({ ...c, result: outcome });
        if (outcome === 'error') this.reconcileErrors.inc(c);
      },
      retry: () => this.queueRetries.inc(q),
    };
  }
}
