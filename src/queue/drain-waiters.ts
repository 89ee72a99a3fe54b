// Keys waiting for another queue to drain, each for at most its own deadline. One idle waiter on the
// queue wakes them all the moment it drains; a timer per key wakes it at its deadline if the queue is
// still busy then. Waking is a callback (the caller queues the key): nothing here polls, so a key waits
// with no reconcile until one of the two happens.
export interface Drainable { readonly busy: boolean; idle(): Promise<void> }

export class DrainWaiters {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Whether an idle waiter is registered on the queue (one serves every key). */
  private watching = false;
  private readonly queue: Drainable;
  private readonly wake: (key: string) => void;

  constructor(queue: Drainable, wake: (key: string) => void) { this.queue = queue; this.wake = wake; }

  /** Whether the queue has work queued or in flight (what a waiting key waits out). */
  get busy(): boolean { return this.queue.busy; }

  /** Wakes `key` once the queue drains, or in `maxMs` at the latest (a later call replaces its deadline). */
  wakeAfter(key: string, maxMs: number): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(key, setTimeout(() => this.release(key), Math.max(0, maxMs)).unref());
    if (this.watching) return;
    this.watching = true;
    void this.queue.idle().then(() => {
      this.watching = false;
      for (const k of [...this.timers.keys()]) this.release(k);
    });
  }

  /** Keys waiting now. */
  get waiting(): number { return this.timers.size; }

  private release(key: string): void {
    const t = this.timers.get(key);
    if (t === undefined) return;
    clearTimeout(t);
    this.timers.delete(key);
    this.wake(key);
  }
}
