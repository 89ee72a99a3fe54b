// A controller as controller-runtime has them: a name, its own work queue (dedupe, per-key backoff,
// concurrency) and a reconcile function of one key. Its metrics carry the name as their `controller`
// label; every reconcile logs with its own reconcileID. Keys come from event handlers (Manager wiring),
// never from another controller's reconcile.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { isConflict } from '../kube/api-errors.ts';
import type { OperatorMetrics } from '../metrics/metrics.ts';
import { lazyChild } from '../runtime/lazy-logger.ts';
import { WorkQueue, type ReconcileResult } from './workqueue.ts';

export type Reconcile = (key: string, log: Logger) => Promise<ReconcileResult>;

export interface ControllerOptions {
  name: string;
  concurrency: number;
  reconcile: Reconcile;
  log: Logger;
  metrics: OperatorMetrics;
  /** After each run of a key, once it is no longer processing (WorkQueueOptions.settled). */
  settled?: (key: string) => void;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly reconcileKey: Reconcile;
  private readonly log: Logger;

  constructor(o: ControllerOptions) {
    this.name = o.name;
    this.reconcileKey = o.reconcile;
    this.log = o.log.child({ controller: o.name });
    const observer = o.metrics.controller(o.name, o.concurrency, () => this.queue.inFlight);
    this.queue = new WorkQueue((key) => this.reconcile(key), { concurrency: o.concurrency, observer, settled: o.settled });
  }

  /** Queues a key; `priority` keys go before the others. */
  enqueue(key: string, priority = false): void { this.queue.add(key, priority); }
  /** Queues a key in `delayMs` (`priority` as for enqueue); keys queued so again before then run once. */
  enqueueAfter(key: string, delayMs: number, priority = false): void { this.queue.addAfter(key, delayMs, priority); }
  start(): void { this.queue.start(); }
  shutdown(): Promise<void> { return this.queue.shutdown(); }
  idle(): Promise<void> { return this.queue.idle(); }
  /** Whether work for the key is queued or running (a delayed retry is not). */
  isPending(key: string): boolean { return this.queue.isPending(key); }

  private async reconcile(key: string): Promise<ReconcileResult> {
    const log = lazyChild(this.log, { reconcileID: randomUUID(), key });
    const t0 = performance.now();
    const ended = (failure?: { err: unknown }): void => {
      // An optimistic-concurrency conflict is routine (the object changed under us), not an alert.
      const err = failure?.err;
      if (failure) log[isConflict(err) ? 'info' : 'error']({ err: err instanceof Error ? err.message : String(err), durationMs: Math.round(performance.now() - t0) }, 'reconcile failed; will retry with backoff');
      log.debug({ durationMs: +(performance.now() - t0).toFixed(2) }, 'reconciled');
    };
    let r: ReconcileResult;
    try {
      r = await this.reconcileKey(key, log);
    } catch (err) {
      ended({ err });
      throw err;
    }
    if (!r?.finishing) { ended(); return r; }
    // Its last step ends the reconcile: logged then.
    return { ...r, finishing: r.finishing.then((x) => { ended(); return x; }, (err: unknown) => { ended({ err }); throw err; }) };
  }
}
