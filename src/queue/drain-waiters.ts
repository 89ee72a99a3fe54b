// Keys waiting for another queue to drain, each for at most its own deadline. The queue counts as
// drained once it has been idle for `quietMs`: at 100 arrivals a second it is idle for a few
// milliseconds between them, and a wait that ended there would end in the middle of the burst. One
// watcher on the queue wakes every key when it drains; a timer per key wakes it at its deadline if the
// queue is still busy then. Waking is a callback (the caller queues the key): nothing here polls, so a
// key waits with no reconcile until one of the two happens.
export interface Drainable { readonly busy: boolean; readonly quietForMs: number; idle(): Promise<void> }

export class DrainWaiters {
  static readonly QUIET_MS = 100;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Whether the watcher runs (one serves every key). */
  private watching = false;
  private readonly queue: Drainable;
  private readonly wake: (key: string) => void;
  private readonly quietMs: number;

  constructor(queue: Drainable, wake: (key: string) => void, quietMs = DrainWaiters.QUIET_MS) {
    this.queue = queue;
    this.wake = wake;
    this.quietMs = quietMs;
  }

  /** Whether the queue has work queued or in flight, or had within the last `quietMs` (not drained yet). */
  get busy(): boolean { return this.queue.busy || this.queue.quietForMs < this.quietMs; }

  /** Wakes `key` once the queue drains, or in `maxMs` at the latest (a later call replaces its deadline). */
  wakeAfter(key: string, maxMs: number): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => this.release(key), Math.max(0, maxMs)).unref());
    if (!this.watching) void this.watch();
  }

  /** Keys waiting now. */
  get waiting(): number { return this.timers.size; }

  private async watch(): Promise<void> {
    this.watching = true;
    for (;;) {
      if (this.queue.busy) await this.queue.idle();
      const left = this.quietMs - this.queue.quietForMs;
      if (left <= 0) break;
      await new Promise((r) => setTimeout(r, left).unref());
    }
    this.watching = false;
    for (const k of [...this.timers.keys()]) this.release(k);
  }

  private release(key: string): void {
    const t = this.timers.get(key);
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(key);
    this.wake(key);
  }
}
