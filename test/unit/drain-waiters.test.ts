// Keys held until a work queue drains (idle for a quiet spell): all woken once it has, each at its own
// deadline otherwise, and none woken twice.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DrainWaiters } from '../../src/queue/drain-waiters.ts';
import { WorkQueue } from '../../src/queue/workqueue.ts';

/** A real queue whose keys each run until `finish()` is called. */
function gatedQueue() {
  const pending: (() => void)[] = [];
  const q = new WorkQueue(() => new Promise<void>((r) => { pending.push(r); }), { concurrency: 4 });
  q.start();
  return { q, finish: () => { for (const r of pending.splice(0)) r(); } };
}

describe('DrainWaiters', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('wakes every waiting key once the queue has been idle for the quiet spell, not before', async () => {
    const { q, finish } = gatedQueue();
    const woken: string[] = [];
    const w = new DrainWaiters(q, (k) => woken.push(k), 100);
    expect(w.busy).toBe(false); // never busy yet
    q.add('ns-1');
    expect(w.busy).toBe(true);
    w.wakeAfter('a', 60_000);
    w.wakeAfter('b', 60_000);
    w.wakeAfter('a', 60_000); // a second wait for the same key is one wake
    await vi.advanceTimersByTimeAsync(1_000);
    expect(woken).toEqual([]);
    // Idle for 60 ms, then busy again (the next arrival of a burst): still not drained.
    finish();
    await vi.advanceTimersByTimeAsync(60);
    expect(w.busy).toBe(true);
    expect(woken).toEqual([]);
    q.add('ns-2');
    await vi.advanceTimersByTimeAsync(200);
    expect(woken).toEqual([]);
    // Idle for the whole quiet spell: drained, everyone woken.
    finish();
    await vi.advanceTimersByTimeAsync(99);
    expect(woken).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(woken.sort()).toEqual(['a', 'b']);
    expect(w.waiting).toBe(0);
    expect(w.busy).toBe(false);
  });

  it('wakes a key at its deadline while the queue stays busy, and only that key', async () => {
    const { q, finish } = gatedQueue();
    q.add('ns-1');
    const woken: string[] = [];
    const w = new DrainWaiters(q, (k) => woken.push(k), 100);
    w.wakeAfter('soon', 100);
    w.wakeAfter('later', 1_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(woken).toEqual(['soon']);
    expect(w.waiting).toBe(1);
    // The drain wakes the rest; the woken key is not woken again by its old timer.
    finish();
    await vi.advanceTimersByTimeAsync(100);
    expect(woken).toEqual(['soon', 'later']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(woken).toEqual(['soon', 'later']);
  });

  it('a key waiting on a queue long idle is woken at once', async () => {
    const { q, finish } = gatedQueue();
    q.add('ns-1');
    await vi.advanceTimersByTimeAsync(0); // its reconcile starts
    finish();
    await vi.advanceTimersByTimeAsync(500);
    expect(q.quietForMs).toBe(500);
    const woken: string[] = [];
    const w = new DrainWaiters(q, (k) => woken.push(k), 100);
    w.wakeAfter('a', 60_000);
    await vi.advanceTimersByTimeAsync(0);
    expect(woken).toEqual(['a']);
  });
});
