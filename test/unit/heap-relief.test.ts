import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import { HeapRelief } from '../../src/runtime/heap-relief.ts';

const MB = 2 ** 20;

/** A fake heap: `free` MB free of 200 MB committed; a collection frees it all. */
function fakeHeap(free: number) {
  const h = { total: 200 * MB, used: (200 - free) * MB, gcs: 0 };
  return { h, heap: () => ({ total: h.total, used: h.used }), gc: () => { h.gcs++; h.total = h.used; } };
}

describe('HeapRelief (when it collects)', () => {
  it('collects once work has been quiet for quietMs after a burst', () => {
    let busy = true;
    const f = fakeHeap(100);
    const r = new HeapRelief({ busy: () => busy, quietMs: 3000, heap: f.heap, gc: f.gc });
    r.tick(1000);
    busy = false;
    r.tick(2000); // quiet for 1 s only
    expect(f.h.gcs).toBe(0);
    r.tick(4000);
    expect(f.h.gcs).toBe(1);
    expect(r.collections).toBe(1);
  });

  it('does not collect again until there has been new work', () => {
    let busy = true;
    const f = fakeHeap(100);
    const r = new HeapRelief({ busy: () => busy, quietMs: 1000, minFreeBytes: 0, heap: f.heap, gc: f.gc });
    r.tick(0);
    busy = false;
    for (const t of [2000, 5000, 9000]) r.tick(t);
    expect(f.h.gcs).toBe(1);
    busy = true; r.tick(10_000);
    busy = false; r.tick(12_000);
    expect(f.h.gcs).toBe(2);
  });

  it('does not collect when less than minFreeBytes of the heap is free', () => {
    let busy = true;
    const f = fakeHeap(10);
    const r = new HeapRelief({ busy: () => busy, quietMs: 0, minFreeBytes: 32 * MB, heap: f.heap, gc: f.gc });
    r.tick(0); busy = false; r.tick(1);
    expect(f.h.gcs).toBe(0);
  });

  it('under continuous load collects at most once per busyIntervalMs, and only when half the heap is free', () => {
    const f = fakeHeap(150);
    const start = 1_000_000;
    const r = new HeapRelief({ busy: () => true, busyIntervalMs: 60_000, heap: f.heap, gc: f.gc });
    (r as unknown as { lastRelief: number }).lastRelief = start;
    for (let t = 0; t < 60_000; t += 1000) r.tick(start + t);
    expect(f.h.gcs).toBe(0);
    r.tick(start + 60_000);
    expect(f.h.gcs).toBe(1);
    // 50 MB free of 200: not half, so no collection however long the load lasts.
    f.h.total = 200 * MB; f.h.used = 150 * MB;
    for (let t = 61_000; t < 300_000; t += 1000) r.tick(start + t);
    expect(f.h.gcs).toBe(1);
    // Half free again: one more, on the next tick.
    f.h.used = 90 * MB;
    r.tick(start + 300_000);
    expect(f.h.gcs).toBe(2);
  });
});

describe('HeapRelief (with V8)', () => {
  it('gives the free heap back: the committed heap shrinks towards what is live', () => {
    expect(new HeapRelief({ busy: () => false }).available).toBe(true);
    let busy = true;
    const reliefs: { beforeBytes: number; afterBytes: number }[] = [];
    const r = new HeapRelief({ busy: () => busy, quietMs: 0, minFreeBytes: 0, onRelief: (x) => reliefs.push(x) });
    // A burst: 300 000 objects that survive long enough to be promoted, then are dropped.
    let keep: { i: number; s: string }[] = [];
    for (let i = 0; i < 300_000; i++) keep.push({ i, s: `object-${i}` });
    r.tick(0);
    const committed = v8.getHeapStatistics().total_heap_size;
    keep = [];
    busy = false;
    r.tick(1);
    expect(reliefs).toHaveLength(1);
    expect(keep).toHaveLength(0);
    expect(reliefs[0]!.afterBytes).toBeLessThan(committed - 10 * MB);
  });
});
