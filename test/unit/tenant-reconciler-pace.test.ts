// The tenant reconciler computes a tenant's status (O(members)) at most once per pause proportional to
// what the computation took, so a burst of joins into one big tenant is not O(N^2); a new spec is
// reported at once.
import { describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { TenantReconciler } from '../../src/controller/tenant-reconciler.ts';
import { fakeTenantReconciler } from './tenant-reconciler-fakes.ts';

const log = pino({ level: 'silent' });

/** The shared fakes, with a fake clock: every status computation takes `costMs` on it. */
function setup(members: number, costMs: number, isolating: () => boolean = () => false) {
  const wakes: [string, number][] = [];
  const f = fakeTenantReconciler(members, {
    clock: () => f.world.now,
    isolating: { get busy() { return isolating(); }, wakeAfter: (k: string, ms: number) => { wakes.push([k, ms]); } },
  });
  f.world.costMs = costMs;
  return {
    r: f.r, computations: () => f.world.computations, statusWrites: () => f.world.statusWrites, addMember: (n: string) => { f.names.push(n); },
    removeMember: (n: string) => { f.names.splice(f.names.indexOf(n), 1); }, advance: (ms: number) => { f.world.now += ms; },
    setObj: f.setObj, obj: f.obj, wakes,
  };
}

describe('TenantReconciler pacing', () => {
  it('within the pause after a computation, comes back after it instead of computing again', async () => {
    const s = setup(1000, 5);
    await s.r.reconcile('big', log);
    expect(s.computations()).toBe(1);
    // 20 x 5 ms = 100 ms of pause: a reconcile within it computes nothing and is requeued for the rest.
    s.advance(40);
    expect(await s.r.reconcile('big', log)).toEqual({ requeueAfterMs: 60 });
    expect(s.computations()).toBe(1);
    s.advance(60);
    await s.r.reconcile('big', log);
    expect(s.computations()).toBe(2);
  });

  it('the pause is at most the status window, however long a computation took', async () => {
    const s = setup(1000, 100);
    await s.r.reconcile('big', log);
    expect(await s.r.reconcile('big', log)).toEqual({ requeueAfterMs: TenantReconciler.STATUS_WINDOW_MS });
  });

  it('a new spec is computed at once, pause or not', async () => {
    const s = setup(1000, 5);
    await s.r.reconcile('big', log);
    s.setObj({ ...s.obj(), metadata: { ...s.obj().metadata, generation: 2 } });
    await s.r.reconcile('big', log);
    expect(s.computations()).toBe(2);
  });

  it('a forgotten tenant starts without a pause', async () => {
    const s = setup(10, 5);
    await s.r.reconcile('big', log);
    s.r.forget('big');
    await s.r.reconcile('big', log);
    expect(s.computations()).toBe(2);
  });

  it('holds a routine status update while namespaces are being isolated, woken when they are, at most HOLD_MAX_MS', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      let isolating = true;
      const s = setup(3, 0, () => isolating);
      // A first status flips conditions (none were reported): written at once, isolating or not.
      await s.r.reconcile('big', log);
      expect(s.statusWrites()).toBe(1);
      // One more member: only the namespace list and the summary change (a routine update).
      s.addMember('ns-3');
      vi.advanceTimersByTime(TenantReconciler.STATUS_WINDOW_MS);
      // Held: no requeue of its own (no polling); it asks to be woken when isolation ends, or at its deadline.
      expect(await s.r.reconcile('big', log)).toBeUndefined();
      expect(s.wakes).toEqual([['big', TenantReconciler.HOLD_MAX_MS]]);
      // Woken early (another change queued it) while still isolating: held again, for what is left.
      s.advance(TenantReconciler.HOLD_MAX_MS - 1);
      expect(await s.r.reconcile('big', log)).toBeUndefined();
      expect(s.wakes.at(-1)).toEqual(['big', 1]);
      expect(s.statusWrites()).toBe(1);
      // Held no longer than HOLD_MAX_MS, however long isolating lasts.
      s.advance(1);
      await s.r.reconcile('big', log);
      expect(s.statusWrites()).toBe(2);
      expect(s.obj().status?.namespaces).toHaveLength(4);
      // A held update that is no longer needed ends its hold: the next one waits its own full hold.
      s.addMember('ns-4');
      vi.advanceTimersByTime(TenantReconciler.STATUS_WINDOW_MS);
      await s.r.reconcile('big', log); // held
      s.removeMember('ns-4');
      s.advance(TenantReconciler.HOLD_MAX_MS);
      expect(await s.r.reconcile('big', log)).toBeUndefined(); // the status says it already
      s.addMember('ns-4');
      expect(await s.r.reconcile('big', log)).toBeUndefined();
      expect(s.wakes.at(-1)).toEqual(['big', TenantReconciler.HOLD_MAX_MS]);
      expect(s.statusWrites()).toBe(2);
      // Once isolation is over, a routine update is written without waiting.
      isolating = false;
      await s.r.reconcile('big', log);
      expect(s.statusWrites()).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });
});
