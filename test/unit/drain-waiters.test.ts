// Keys held until a work queue drains: all woken the moment it does, each at its own deadline otherwise,
// and none woken twice.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DrainWaiters } from '../../src/queue/drain-waiters.ts';
import { WorkQueue } from '../../src/queue/workqueue.ts';

/** A real queue whose one key runs until `finish()` is called. */
function busyQueue() {
  let finish!: () => void;
  const q = new WorkQueue(() => new Promise<void>((r) => { finish = r; }));
  q.start();
  q.add('ns-1');
  return { q, finish: () => finish() };
}

describe('DrainWaiters', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('wakes every waiting key once when the queue drains, not before', async () => {
    const { q, finish } = busyQueue();
    const woken: string[] = [];
    const w = new DrainWaiters(q, (k) => woken.push(k));
    expect(w.busy).toBe(true);
    w.wakeAfter('a', 60_000);
    w.wakeAfter('b', 60_000);
    w.wakeAfter('a', 60_000); // a second wait for the same key is one wake
    await new Promise((r) => setTimeout(r, 20));
    expect(woken).toEqual([]);
    finish();
    await q.idle();
    await Promise.resolve();
    expect(woken.sort()).toEqual(['a', 'b']);
    expect(w.waiting).toBe(0);
    expect(w.busy).toBe(false);
  });

  it('wakes a key at its deadline while the queue stays busy, and only that key', async () => {
    vi.useFakeTimers();
    const { q, finish } = busyQueue();
    const woken: string[] = [];
    const w = new DrainWaiters(q, (k) => woken.push(k));
    w.wakeAfter('soon', 100);
    w.wakeAfter('later', 1_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(woken).toEqual(['soon']);
    expect(w.waiting).toBe(1);
    // The drain wakes the rest; the woken key is not woken again by its old timer.
    finish();
    await vi.advanceTimersByTimeAsync(0);
    expect(woken).toEqual(['soon', 'later']);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(woken).toEqual(['soon', 'later']);
  });

  it('a key waiting on an idle queue is woken at once', async () => {
    const q = new WorkQueue(() => Promise.resolve());
    const woken: string[] = [];
    const w = new DrainWaiters(q, (k) => woken.push(k));
    w.wakeAfter('a', 60_000);
    await Promise.resolve();
    await Promise.resolve();
    expect(woken).toEqual(['a']);
  });
});
