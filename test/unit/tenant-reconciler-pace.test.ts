// The tenant reconciler computes a tenant's status (O(members)) at most once per pause proportional to
// what the computation took, so a burst of joins into one big tenant is not O(N^2); a new spec is
// reported at once.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { FINALIZER, type TenantIsolationObject } from '../../src/api/schema.ts';
import { TenantReconciler, type TenantReconcilerDeps } from '../../src/controller/tenant-reconciler.ts';
import { tenant } from './fixtures.ts';

const log = pino({ level: 'silent' });

/** A reconciler over fakes: a tenant of `members` namespaces; every status computation takes `costMs` on the fake clock. */
function setup(members: number, costMs: number) {
  let now = 1_000;
  let computations = 0;
  const t = tenant('big', { namespaceSelector: { matchLabels: { tenant: 'big' } } });
  const names = Array.from({ length: members }, (_, i) => `ns-${i}`);
  let obj: TenantIsolationObject = { metadata: { name: 'big', uid: t.uid, generation: 1, finalizers: [FINALIZER] }, status: { observedGeneration: 1 } };
  const deps = {
    rest: { mergePatch: () => Promise.resolve({}) },
    events: { record: () => undefined },
    membership: {
      tenant: () => ({ ...t, generation: obj.metadata.generation }), claimedBy: () => names, membersOf: () => names, namespacesLabelled: () => names, claimantsOf: () => ['big'],
      excludedFor: () => [], hasNamespace: () => true,
    },
    invalidTenants: new Map(),
    tenants: { get: () => obj },
    namespaces: { get: (n: string) => ({ metadata: { name: n, labels: { tenant: 'big' } } }) },
    managed: { in: () => new Map(), tenantOfUid: () => undefined },
    policyIndex: { namespacesOf: () => [] },
    desired: { forTenant: () => ({ templates: [], digests: new Map() }), digestsOf: () => new Map(), forget: () => undefined },
    proof: undefined,
    progress: { busy: () => false, lastError: () => undefined, clashes: () => [] },
    // The computation starts here: count it, and let it take costMs.
    gate: { factsFor: () => { computations++; now += costMs; return { policy: undefined, installed: true, bound: true }; }, forget: () => undefined },
    labelGuarded: () => true,
    peersOf: () => 'MembershipLabel',
    membershipGuard: () => ({ installed: true, guarded: new Set() }),
    clock: () => now,
  } as unknown as TenantReconcilerDeps;
  return {
    r: new TenantReconciler(deps), computations: () => computations, advance: (ms: number) => { now += ms; },
    setObj: (o: TenantIsolationObject) => { obj = o; }, obj: () => obj,
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
});
