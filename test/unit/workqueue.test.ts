// Fake timers (setTimeout, Date, performance.now): delays are exact virtual milliseconds, and "nothing
// happened" is checked after every timer and promise that was due has run, not after a real sleep.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ExponentialFailureRateLimiter, type RateLimiter } from '../../src/queue/rate-limiter.ts';
import { WorkQueue, type Handler, type ReconcileResult, type WorkQueueOptions } from '../../src/queue/workqueue.ts';

/** A promise the test resolves when it wants the handler to finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  return { promise, open };
}

/** Advances virtual time by `ms`, running every timer and promise that comes due. */
const elapse = (ms: number): Promise<unknown> => vi.advanceTimersByTimeAsync(ms);

/** Advances virtual time a millisecond at a time until `cond` holds (at most `maxMs` virtual ms). */
async function waitFor(cond: () => boolean, what: string, maxMs = 3000): Promise<void> {
  for (let t = 0; !cond(); t++) {
    if (t > maxMs) throw new Error(`${what} did not happen within ${maxMs} virtual ms`);
    await elapse(t === 0 ? 0 : 1);
  }
}

/** Records calls and concurrency per key; each call waits for the gate given by `hold` (if any). */
class Recorder {
  readonly calls: string[] = [];
  readonly times: number[] = [];
  readonly active = new Map<string, number>();
  readonly maxActive = new Map<string, number>();
  totalActive = 0;
  maxTotalActive = 0;
  hold: (key: string, call: number) => Promise<void> | undefined = () => undefined;
  result: (key: string, call: number) => ReconcileResult = () => undefined;
  fail: (key: string, call: number) => boolean = () => false;

  readonly handler: Handler = async (key) => {
    const n = this.count(key);
    this.calls.push(key);
    this.times.push(performance.now());
    this.active.set(key, (this.active.get(key) ?? 0) + 1);
    this.maxActive.set(key, Math.max(this.maxActive.get(key) ?? 0, this.active.get(key)!));
    this.totalActive++;
    this.maxTotalActive = Math.max(this.maxTotalActive, this.totalActive);
    try {
      await (this.hold(key, n) ?? Promise.resolve());
      if (this.fail(key, n)) throw new Error(`fail ${key} #${n}`);
      return this.result(key, n);
    } finally {
      this.active.set(key, this.active.get(key)! - 1);
      this.totalActive--;
    }
  };

  count(key: string): number { return this.calls.filter((k) => k === key).length; }
}

beforeEach(() => { vi.useFakeTimers(); });

const queues: WorkQueue[] = [];
function queue(rec: Recorder, o: WorkQueueOptions = {}): WorkQueue {
  const q = new WorkQueue(rec.handler, o);
  queues.push(q);
  return q;
}
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.shutdown()));
  vi.useRealTimers();
});

describe('WorkQueue deduplication', () => {
  it('a key added 5 times while queued runs once', async () => {
    const rec = new Recorder();
    const q = queue(rec);
    for (let i = 0; i < 5; i++) q.add('k');
    expect(q.depth).toBe(1);
    expect(q.isQueued('k')).toBe(true);
    q.start();
    await q.idle();
    await elapse(1000);
    expect(rec.calls).toEqual(['k']);
    expect(q.isQueued('k')).toBe(false);
  });

  it('keys added before start() wait for it', async () => {
    const rec = new Recorder();
    const q = queue(rec);
    q.add('a');
    await elapse(60_000);
    expect(rec.calls).toEqual([]);
    q.start();
    await waitFor(() => rec.calls.length === 1, 'a to run');
  });

  it('a key added while it is processing runs exactly once more afterwards, never concurrently', async () => {
    const rec = new Recorder();
    const first = gate();
    rec.hold = (_k, n) => (n === 0 ? first.promise : undefined);
    const q = queue(rec, { concurrency: 4 });
    q.start();
    q.add('k');
    await waitFor(() => rec.count('k') === 1, 'first run');
    q.add('k');
    q.add('k');
    q.add('k');
    await elapse(1000);
    expect(rec.count('k')).toBe(1); // not started again while the first run is in flight
    expect(q.activeWorkers).toBe(1);
    first.open();
    await waitFor(() => rec.count('k') === 2, 'second run');
    await q.idle();
    await elapse(1000);
    expect(rec.count('k')).toBe(2);
    expect(rec.maxActive.get('k')).toBe(1);
  });
});

describe('WorkQueue busy', () => {
  it('is true while a key is queued or processing, and false once idle() would resolve', async () => {
    const rec = new Recorder();
    const g = gate();
    rec.hold = () => g.promise;
    const q = queue(rec);
    expect(q.busy).toBe(false);
    q.add('a');
    expect(q.busy).toBe(true); // queued, not started
    q.start();
    await waitFor(() => rec.totalActive === 1, 'a starts');
    expect(q.busy).toBe(true); // processing
    q.addAfter('b', 1_000);
    g.open();
    await q.idle();
    expect(q.busy).toBe(false); // a delayed add not yet due does not count
  });
});

describe('WorkQueue settled', () => {
  it('is called after each run, once the key is no longer pending, also after a failure', async () => {
    const rec = new Recorder();
    const seen: { key: string; pending: boolean }[] = [];
    let fail = true;
    rec.hold = () => { if (fail) { fail = false; throw new Error('boom'); } return undefined; };
    const q: WorkQueue = queue(rec, { settled: (key) => seen.push({ key, pending: q.isPending(key) }) });
    q.start();
    q.add('k');
    await waitFor(() => seen.length === 1, 'first run settled');
    expect(seen[0]).toEqual({ key: 'k', pending: false });
    await waitFor(() => rec.count('k') === 2, 'retry after the failure');
    await q.idle();
    expect(seen).toEqual([{ key: 'k', pending: false }, { key: 'k', pending: false }]);
  });

  it('a key queued again during its run is still pending when settled is called', async () => {
    const rec = new Recorder();
    const first = gate();
    rec.hold = (_k, n) => (n === 0 ? first.promise : undefined);
    const pending: boolean[] = [];
    const q: WorkQueue = queue(rec, { concurrency: 2, settled: (key) => pending.push(q.isPending(key)) });
    q.start();
    q.add('k');
    await waitFor(() => rec.count('k') === 1, 'first run');
    q.add('k');
    first.open();
    await waitFor(() => pending.length === 2, 'both runs settled');
    expect(pending).toEqual([true, false]);
  });
});

describe('WorkQueue concurrency', () => {
  it('runs different keys in parallel up to the concurrency, then the rest as workers free up', async () => {
    const rec = new Recorder();
    const gates = new Map([['a', gate()], ['b', gate()], ['c', gate()]]);
    rec.hold = (k) => gates.get(k)!.promise;
    const q = queue(rec, { concurrency: 2 });
    expect(q.concurrency).toBe(2);
    q.start();
    q.add('a'); q.add('b'); q.add('c');
    await waitFor(() => rec.calls.length === 2, 'two keys to start');
    await elapse(1000);
    expect(new Set(rec.calls)).toEqual(new Set(['a', 'b']));
    expect(q.activeWorkers).toBe(2);
    expect([...q.inFlight.keys()].sort()).toEqual(['a', 'b']);
    expect(q.depth).toBe(1);
    gates.get('a')!.open();
    await waitFor(() => rec.calls.includes('c'), 'c to start');
    gates.get('b')!.open();
    gates.get('c')!.open();
    await q.idle();
    expect(rec.maxTotalActive).toBe(2);
    expect(q.inFlight.size).toBe(0);
  });

  it('with concurrency 1 runs keys one at a time in the order added', async () => {
    const rec = new Recorder();
    const q = queue(rec);
    for (const k of ['x', 'y', 'z']) q.add(k);
    q.start();
    await waitFor(() => rec.calls.length === 3, 'all keys');
    expect(rec.calls).toEqual(['x', 'y', 'z']);
    expect(rec.maxTotalActive).toBe(1);
  });
});

describe('WorkQueue: a reconcile that hands back its last step (finishing)', () => {
  it('frees its worker for the next key, holds its own key until the step ends, and counts its outcome', async () => {
    const rec = new Recorder();
    const last = gate();
    const settled: string[] = [];
    // a's first run hands back a step that ends when the test says; its second run finishes at once.
    rec.result = (k, n) => (k === 'a' && n === 0 ? { finishing: last.promise.then(() => ({ requeueAfterMs: 500 })) } : undefined);
    const q = queue(rec, { concurrency: 1, settled: (k) => settled.push(k) });
    q.start();
    q.add('a'); q.add('b');
    // One worker: b runs while a's step is still running.
    await waitFor(() => rec.calls.includes('b'), 'b to run on the freed worker');
    await elapse(1000);
    expect(q.isPending('a')).toBe(true);
    expect([...q.inFlight.keys()]).toEqual(['a']);
    expect(settled).toEqual(['b']);
    // a, queued again meanwhile, is not run a second time at once: it waits for its step.
    q.add('a');
    await elapse(1000);
    expect(rec.count('a')).toBe(1);
    let idle = false;
    void q.idle().then(() => { idle = true; });
    await elapse(0);
    expect(idle).toBe(false);
    last.open();
    await waitFor(() => rec.count('a') === 2, 'a to run again after its step');
    expect(settled).toEqual(['b', 'a', 'a']);
    // The step's requeueAfterMs is the reconcile's.
    await elapse(499);
    expect(rec.count('a')).toBe(2);
    await elapse(1);
    await waitFor(() => rec.count('a') === 3, 'the requeue after 500 ms');
    expect(rec.maxActive.get('a')).toBe(1);
  });

  it('a step that fails is a failed reconcile: retried with backoff', async () => {
    const rec = new Recorder();
    const outcomes: string[] = [];
    rec.result = (k, n) => (n === 0 ? { finishing: Promise.reject(new Error('label patch refused')) } : undefined);
    const q = queue(rec, { rateLimiter: new ExponentialFailureRateLimiter(100, 10_000), observer: { finished: (_k, _s, o) => outcomes.push(o) } });
    q.start();
    q.add('a');
    await waitFor(() => outcomes.length === 1, 'the first run to end');
    expect(outcomes).toEqual(['error']);
    expect(q.failures('a')).toBe(1);
    await elapse(99);
    expect(rec.count('a')).toBe(1);
    await waitFor(() => rec.count('a') === 2, 'the retry after 100 ms');
    await waitFor(() => outcomes.length === 2, 'the retry to end');
    expect(outcomes).toEqual(['error', 'success']);
    expect(q.failures('a')).toBe(0);
  });
});

describe('WorkQueue retries', () => {
  it('a failing key is retried with growing delays until it succeeds, then its failures are forgotten', async () => {
    const rec = new Recorder();
    rec.fail = (_k, n) => n < 3;
    const limiter = new ExponentialFailureRateLimiter(5, 1000);
    const asked: number[] = [];
    const recording: RateLimiter = {
      when: (k) => { const d = limiter.when(k); asked.push(d); return d; },
      forget: (k) => limiter.forget(k),
      failures: (k) => limiter.failures(k),
    };
    const outcomes: string[] = [];
    let retries = 0;
    const q = queue(rec, { rateLimiter: recording, observer: { finished: (_k, _s, o) => outcomes.push(o), retry: () => { retries++; } } });
    q.start();
    q.add('k');
    await waitFor(() => rec.count('k') === 4, 'three retries');
    await q.idle();
    expect(asked).toEqual([5, 10, 20]);
    expect(retries).toBe(3);
    expect(outcomes).toEqual(['error', 'error', 'error', 'success']);
    // Each retry ran exactly its delay after the failure (virtual time: the handler takes none).
    expect(rec.times.slice(1).map((t, i) => t - rec.times[i]!)).toEqual(asked);
    expect(q.failures('k')).toBe(0);
  });

  it('counts failures while a key keeps failing, and a later success forgets them', async () => {
    const rec = new Recorder();
    rec.fail = (_k, n) => n === 0;
    const q = queue(rec, { rateLimiter: new ExponentialFailureRateLimiter(60_000, 60_000) });
    q.start();
    q.add('k');
    await waitFor(() => q.failures('k') === 1, 'the failure to be counted');
    await elapse(59_000);
    expect(rec.count('k')).toBe(1); // the retry is 60s away
    q.add('k'); // an event re-adds it now
    await waitFor(() => rec.count('k') === 2, 'the re-added run');
    await q.idle();
    expect(q.failures('k')).toBe(0);
  });

  it('forget() clears the failure count', async () => {
    const rec = new Recorder();
    rec.fail = () => true;
    const q = queue(rec, { rateLimiter: new ExponentialFailureRateLimiter(60_000, 60_000) });
    q.start();
    q.add('k');
    await waitFor(() => q.failures('k') === 1, 'the failure');
    q.forget('k');
    expect(q.failures('k')).toBe(0);
  });

  it('requeueAfterMs runs the key again after the delay, without counting a failure', async () => {
    const rec = new Recorder();
    rec.result = (_k, n) => (n === 0 ? { requeueAfterMs: 30 } : undefined);
    const outcomes: string[] = [];
    const q = queue(rec, { observer: { finished: (_k, _s, o) => outcomes.push(o) } });
    q.start();
    q.add('k');
    await waitFor(() => rec.count('k') === 2, 'the requeued run');
    expect(rec.times[1]! - rec.times[0]!).toBe(30);
    await q.idle();
    await elapse(60_000);
    expect(rec.count('k')).toBe(2);
    expect(outcomes).toEqual(['requeue_after', 'success']);
    expect(q.failures('k')).toBe(0);
  });
});

describe('WorkQueue delayed adds', () => {
  it('addAfter keeps the earliest timer: a later request does not postpone it', async () => {
    const rec = new Recorder();
    const q = queue(rec);
    q.start();
    const t0 = performance.now();
    q.addAfter('k', 20);
    q.addAfter('k', 10_000);
    await waitFor(() => rec.count('k') === 1, 'the early timer', 2000);
    expect(rec.times[0]! - t0).toBe(20);
    await elapse(20_000);
    expect(rec.count('k')).toBe(1); // the later request was dropped, not kept as a second timer
  });

  it('addAfter replaces a later timer with an earlier one, so the key runs once', async () => {
    const rec = new Recorder();
    const q = queue(rec);
    q.start();
    const t0 = performance.now();
    q.addAfter('k', 300);
    q.addAfter('k', 10);
    await waitFor(() => rec.count('k') === 1, 'the earlier timer', 250);
    expect(rec.times[0]! - t0).toBe(10);
    await elapse(400);
    expect(rec.count('k')).toBe(1);
  });

  it('addAfter with priority puts the key ahead of those already queued when its timer fires', async () => {
    const rec = new Recorder();
    const q = queue(rec, { concurrency: 1 });
    const first = gate();
    rec.hold = (key) => (key === 'busy' ? first.promise : undefined);
    q.start();
    q.add('busy');
    await elapse(0);
    q.add('a');
    q.add('b');
    q.addAfter('new', 2, true);
    q.addAfter('plain', 2);
    await elapse(2);
    first.open();
    await waitFor(() => rec.calls.length === 5, 'all five');
    expect(rec.calls).toEqual(['busy', 'new', 'a', 'b', 'plain']);
  });

  it('a key added with priority while it is processing runs again before the keys already queued', async () => {
    const rec = new Recorder();
    const q = queue(rec, { concurrency: 1 });
    const first = gate();
    rec.hold = (key) => (rec.count(key) === 1 && key === 'k' ? first.promise : undefined);
    q.start();
    q.add('k');
    await elapse(0);
    q.add('a');
    q.add('b');
    q.add('k', true);
    first.open();
    await waitFor(() => rec.calls.length === 4, 'all four');
    expect(rec.calls).toEqual(['k', 'k', 'a', 'b']);
    // Without priority the re-added key waits its turn.
    const second = gate();
    rec.hold = (key) => (key === 'm' && rec.count('m') === 1 ? second.promise : undefined);
    q.add('m');
    await elapse(0);
    q.add('c');
    q.add('m');
    second.open();
    await waitFor(() => rec.calls.length === 7, 'all seven');
    expect(rec.calls.slice(4)).toEqual(['m', 'c', 'm']);
  });

  it('addAfter with no delay adds at once', async () => {
    const rec = new Recorder();
    const q = queue(rec);
    q.addAfter('k', 0);
    expect(q.isQueued('k')).toBe(true);
    q.start();
    await waitFor(() => rec.count('k') === 1, 'k');
  });
});

describe('WorkQueue shutdown', () => {
  it('drains in-flight work, drops queued keys and pending timers, and refuses new adds', async () => {
    const rec = new Recorder();
    const g = gate();
    rec.hold = (k) => (k === 'a' ? g.promise : undefined);
    const q = new WorkQueue(rec.handler, { concurrency: 1 });
    q.start();
    q.add('a');
    await waitFor(() => rec.count('a') === 1, 'a to start');
    q.add('b');
    q.add('a'); // re-added while processing
    q.addAfter('c', 10);
    let done = false;
    const stopping = q.shutdown().then(() => { done = true; });
    await elapse(1000);
    expect(done).toBe(false); // still waiting for 'a'
    q.add('d');
    q.addAfter('e', 1);
    q.addRateLimited('f');
    g.open();
    await stopping;
    expect(done).toBe(true);
    expect(rec.active.get('a')).toBe(0);
    await elapse(60_000);
    expect(rec.calls).toEqual(['a']);
    expect(q.depth).toBe(0);
    expect(q.isQueued('d')).toBe(false);
  });
});

describe('WorkQueue shutdown', () => {
  it('wakes those waiting for it to drain, though it never started (a standby)', async () => {
    const q = new WorkQueue(() => Promise.resolve(undefined));
    q.add('a');
    let drained = false;
    const waiting = q.idle().then(() => { drained = true; });
    await q.shutdown();
    await waiting;
    expect(drained).toBe(true);
    expect(q.busy).toBe(false);
  });
});
