// A work queue with client-go semantics, and its own workers:
// - a key queued several times runs once (dirty set);
// - a key added while it is processing runs once more after the current run, never concurrently;
// - failures re-add with the rate limiter's delay; success forgets the failure count;
// - delayed adds keep only the earliest pending timer per key;
// - shutdown stops taking keys and drains the ones in flight;
// - keys added with `priority` go before the rest (a namespace that just joined a tenant is isolated
//   before the fan-out updates of its tenant's other members), also when added while it is processing;
// - a reconcile may hand back its last step (`finishing`): the key stays held until that ends, but its
//   worker takes the next key meanwhile (the namespace controller's label patch, a round trip that
//   otherwise held one of four workers for half of a namespace's work).
// Workers are promises counted by the queue itself (`processing`): the queue already decides which key
// may run and when, so a general-purpose pool such as p-queue would only add a second count to keep in
// step (it was here for that, and for onIdle, which the queue tracks the same way).
import { defaultControllerRateLimiter, type RateLimiter } from './rate-limiter.ts';

export type ReconcileResult = {
  requeueAfterMs?: number;
  /** The reconcile's last step, still running; its outcome is the reconcile's (see the header). */
  finishing?: Promise<ReconcileResult>;
} | void;
export type Handler = (key: string) => Promise<ReconcileResult>;

export interface QueueObserver {
  add?(key: string): void;
  depth?(depth: number): void;
  /** Seconds the key waited in the queue before a worker took it. */
  started?(key: string, queuedSeconds: number): void;
  finished?(key: string, seconds: number, outcome: 'success' | 'error' | 'requeue_after', err?: unknown): void;
  retry?(key: string): void;
}

export interface WorkQueueOptions {
  concurrency?: number;
  rateLimiter?: RateLimiter;
  observer?: QueueObserver;
  /**
   * Called once a run of the key has ended and it is no longer processing (isPending is false unless it
   * was queued again meanwhile): where work that depends on the key being done is queued.
   */
  settled?: (key: string) => void;
}

export class WorkQueue {
  private readonly order: string[] = [];
  private readonly urgent: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added with priority while they were processing: they go to `urgent` when the run ends. */
  private readonly urgentAfterRun = new Set<string>();
  /** Workers running a reconcile (keys in `processing` whose reconcile has not handed back `finishing`). */
  private busyWorkers = 0;
  private readonly addedAt = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly startedAt = new Map<string, number>();
  private readonly maxWorkers: number;
  /** Resolved whenever the queue becomes idle (nothing queued or processing). */
  private idleWaiters: (() => void)[] = [];
  /** When the queue last became idle (performance.now ms). */
  private idleAt = -Infinity;
  private readonly limiter: RateLimiter;
  private readonly observer: QueueObserver;
  private readonly handler: Handler;
  private readonly settled: ((key: string) => void) | undefined;
  private shuttingDown = false;
  private paused = true;

  constructor(handler: Handler, o: WorkQueueOptions = {}) {
    this.handler = handler;
    this.maxWorkers = o.concurrency ?? 1;
    this.limiter = o.rateLimiter ?? defaultControllerRateLimiter();
    this.observer = o.observer ?? {};
    this.settled = o.settled;
  }

  get concurrency(): number { return this.maxWorkers; }
  get depth(): number { return this.order.length + this.urgent.length; }
  get activeWorkers(): number { return this.processing.size; }
  /** Something is queued or being processed (delayed adds not yet due do not count). */
  get busy(): boolean { return this.depth > 0 || this.processing.size > 0; }
  /** How long the queue has been idle, in ms (0 while busy). */
  get quietForMs(): number { return this.busy ? 0 : performance.now() - this.idleAt; }
  /** Keys being processed now with the time they started (ms epoch), for longest-running metrics. */
  get inFlight(): ReadonlyMap<string, number> { return this.startedAt; }
  isQueued(key: string): boolean { return this.dirty.has(key); }

  /** Starts handing keys to workers (keys may be added before, e.g. while caches sync). */
  start(): void { this.paused = false; this.pump(); }

  add(key: string, priority = false): void {
    if (this.shuttingDown) return;
    this.observer.add?.(key);
    if (priority && this.processing.has(key)) this.urgentAfterRun.add(key);
    if (this.dirty.has(key)) {
      if (priority && !this.processing.has(key)) {
        const i = this.order.indexOf(key);
        if (i >= 0) { this.order.splice(i, 1); this.urgent.push(key); }
      }
      return;
    }
    this.dirty.add(key);
    if (!this.addedAt.has(key)) this.addedAt.set(key, Date.now());
    if (this.processing.has(key)) return; // re-queued when its run ends
    (priority ? this.urgent : this.order).push(key);
    this.observer.depth?.(this.depth);
    this.pump();
  }

  addAfter(key: string, delayMs: number, priority = false): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) { this.add(key, priority); return; }
    const at = performance.now() + delayMs; // monotonic: a wall-clock step must not keep a later timer in place of a sooner one
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => { this.timers.delete(key); this.add(key, priority); }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  addRateLimited(key: string): void {
    this.observer.retry?.(key);
    this.addAfter(key, this.limiter.when(key));
  }

  forget(key: string): void { this.limiter.forget(key); }
  failures(key: string): number { return this.limiter.failures(key); }

  /** Stops taking new keys, cancels delayed adds and waits for in-flight work to finish. */
  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.order.length = 0;
    this.urgent.length = 0;
    this.dirty.clear();
    this.urgentAfterRun.clear();
    // Those waiting for the queue to drain are woken now if nothing runs (a standby's queue never ran).
    this.notifyIfIdle();
    await this.idle();
  }

  /** Resolves when nothing is queued or processing (delayed adds not yet due do not count). */
  idle(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Whether the key is queued or being processed. */
  isPending(key: string): boolean { return this.dirty.has(key) || this.processing.has(key); }
  /** Whether a delayed add (a retry after an error, or a requeueAfter) is waiting for the key. */
  isScheduled(key: string): boolean { return this.timers.has(key); }

  private pump(): void {
    if (this.paused || this.shuttingDown) return;
    while (this.depth > 0 && this.busyWorkers < this.maxWorkers) {
      const key = (this.urgent.length > 0 ? this.urgent : this.order).shift()!;
      this.dirty.delete(key);
      this.processing.add(key);
      this.busyWorkers++;
      const queued = (Date.now() - (this.addedAt.get(key) ?? Date.now())) / 1000;
      this.addedAt.delete(key);
      this.observer.depth?.(this.depth);
      this.observer.started?.(key, queued);
      void Promise.resolve().then(() => this.run(key));
    }
  }

  private notifyIfIdle(): void {
    if (this.busy) return;
    this.idleAt = performance.now();
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async run(key: string): Promise<void> {
    const t0 = performance.now();
    this.startedAt.set(key, Date.now());
    let holdsWorker = true;
    try {
      let r = await this.handler(key);
      const finishing = r && typeof r === 'object' ? r.finishing : undefined;
      if (finishing) {
        holdsWorker = false;
        this.busyWorkers--;
        this.pump();
        r = await finishing;
      }
      this.limiter.forget(key);
      const after = r && typeof r === 'object' ? r.requeueAfterMs : undefined;
      this.observer.finished?.(key, (performance.now() - t0) / 1000, after !== undefined ? 'requeue_after' : 'success');
      if (after !== undefined) this.addAfter(key, after);
    } catch (err) {
      this.observer.finished?.(key, (performance.now() - t0) / 1000, 'error', err);
      this.addRateLimited(key);
    } finally {
      this.startedAt.delete(key);
      this.processing.delete(key);
      if (holdsWorker) this.busyWorkers--;
      const urgent = this.urgentAfterRun.delete(key);
      if (this.dirty.has(key) && !this.shuttingDown) { (urgent ? this.urgent : this.order).push(key); this.observer.depth?.(this.depth); }
      this.settled?.(key);
      this.pump();
      this.notifyIfIdle();
    }
  }
}
