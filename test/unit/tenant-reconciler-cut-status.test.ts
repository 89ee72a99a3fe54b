// A tenant of more than 1000 namespaces: its status lists 1000 and counts all. The reconciler keeps the
// full list it wrote, so a spec change that has every member reconciled again is reported at once, as for a
// small tenant, instead of after the last member settles.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { TENANT_STATUS_LIST_MAX } from '../../src/api/schema.ts';
import { TenantReconciler } from '../../src/controller/tenant-reconciler.ts';
import { fakeTenantReconciler } from './tenant-reconciler-fakes.ts';

const log = pino({ level: 'silent' });

function setup(members: number, fakeClock = false) {
  // A fake clock on which computations take no time: no pause between them (tenant-reconciler-pace.test.ts).
  const f = fakeTenantReconciler(members, fakeClock ? { clock: () => f.world.now } : {});
  const specChange = (): void => {
    // Past the status window after the last write (routine updates within it are coalesced).
    vi.setSystemTime(Date.now() + 2 * TenantReconciler.STATUS_WINDOW_MS);
    const o = f.obj();
    f.setObj({ ...o, metadata: { ...o.metadata, generation: (o.metadata.generation ?? 0) + 1 } });
    f.world.want = 'd2';
    f.world.busy = true;
  };
  return { deps: f.deps, world: f.world, obj: f.obj, specChange };
}

describe('TenantReconciler with a cut status list', () => {
  beforeEach(() => { vi.useFakeTimers({ toFake: ['Date'] }); });
  afterEach(() => { vi.useRealTimers(); });

  it('reports a spec change at once while every member is reconciled again', async () => {
    const s = setup(1500, true);
    const r = new TenantReconciler(s.deps);
    await r.reconcile('big', log);
    expect(s.world.statusWrites).toBe(1);
    expect(s.obj().status?.namespaces).toHaveLength(TENANT_STATUS_LIST_MAX);
    expect(s.obj().status?.namespaceCounts?.isolated).toBe(1500);
    // Every member busy with the old policy: each keeps its last state, the new generation is reported.
    s.specChange();
    await r.reconcile('big', log);
    expect(s.world.statusWrites).toBe(2);
    expect(s.obj().status?.observedGeneration).toBe(2);
    expect(s.obj().status?.namespaceCounts?.isolated).toBe(1500);
    // ... but not as done: the members still hold the old policies.
    const reconciling = () => s.obj().status?.conditions?.find((c) => c.type === 'Reconciling');
    expect(reconciling()).toMatchObject({ status: 'True', message: '1500 namespace(s) being updated' });
    s.world.busy = false;
    s.world.stored = 'd2';
    vi.setSystemTime(Date.now() + 2 * TenantReconciler.STATUS_WINDOW_MS);
    await r.reconcile('big', log);
    expect(s.world.statusWrites).toBe(3);
    expect(reconciling()).toMatchObject({ status: 'False', reason: 'Reconciled' });
  });

  it('after a restart it has no full list until a status needs no write: the report then waits for the members', async () => {
    const s = setup(1500);
    await new TenantReconciler(s.deps).reconcile('big', log);
    const restarted = new TenantReconciler(s.deps);
    s.specChange();
    await restarted.reconcile('big', log);
    expect(s.world.statusWrites).toBe(1);
    expect(s.obj().status?.observedGeneration).toBe(1);
    // Once they settle it is written, and the full list is known again.
    s.world.stored = 'd2'; s.world.busy = false;
    vi.setSystemTime(Date.now() + 2 * TenantReconciler.STATUS_WINDOW_MS);
    await restarted.reconcile('big', log);
    expect(s.obj().status?.observedGeneration).toBe(2);
    s.specChange();
    await restarted.reconcile('big', log);
    expect(s.obj().status?.observedGeneration).toBe(3);
  });

  it('a tenant of 1000 or fewer needs no full list: its status has every entry', async () => {
    const s = setup(TENANT_STATUS_LIST_MAX);
    await new TenantReconciler(s.deps).reconcile('big', log);
    const restarted = new TenantReconciler(s.deps);
    s.specChange();
    await restarted.reconcile('big', log);
    expect(s.obj().status?.observedGeneration).toBe(2);
  });
});
