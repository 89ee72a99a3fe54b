// A TenantReconciler over fakes, shared by its unit tests: a tenant 'big' of `members` namespaces, each
// holding one managed policy whose digest is world.stored, against world.want.
import { FINALIZER, type TenantIsolationObject } from '../../src/api/schema.ts';
import { TenantReconciler, type TenantReconcilerDeps } from '../../src/controller/tenant-reconciler.ts';
import { tenant } from './fixtures.ts';

export interface FakeWorld {
  want: string;
  stored: string;
  /** Whether every namespace is being reconciled. */
  busy: boolean;
  statusWrites: number;
  /** Status computations (each starts with the gate's facts), and what each costs on the fake clock. */
  computations: number;
  costMs: number;
  now: number;
  isolating: boolean;
  wakes: [string, number][];
}

export function fakeTenantReconciler(members: number, over: Partial<Pick<TenantReconcilerDeps, 'clock' | 'isolating'>> = {}) {
  const t = tenant('big', { namespaceSelector: { matchLabels: { tenant: 'big' } } });
  const names = Array.from({ length: members }, (_, i) => `ns-${String(i).padStart(5, '0')}`);
  const world: FakeWorld = { want: 'd1', stored: 'd1', busy: false, statusWrites: 0, computations: 0, costMs: 0, now: 1_000, isolating: false, wakes: [] };
  let obj: TenantIsolationObject = { metadata: { name: 'big', uid: t.uid, generation: 1, finalizers: [FINALIZER] }, status: { observedGeneration: 1 } };
  const deps = {
    rest: {
      // A status write is seen back at once (as the informer's echo would be).
      mergePatch: (path: string, body: { status?: Record<string, unknown> }) => {
        if (path.endsWith('/status')) { world.statusWrites++; obj = { ...obj, status: { ...obj.status, ...body.status } }; }
        return Promise.resolve({});
      },
    },
    events: { record: () => undefined },
    membership: {
      tenant: () => ({ ...t, generation: obj.metadata.generation }), claimedBy: () => names, membersOf: () => names, namespacesLabelled: () => names, claimantsOf: () => ['big'],
      excludedFor: () => [], hasNamespace: () => true,
    },
    invalidTenants: new Map(),
    tenants: { get: () => obj },
    namespaces: { get: (n: string) => ({ metadata: { name: n, labels: { tenant: 'big', 'isolation.tenancy.dev/member-of': 'big' } } }) },
    managed: { in: () => new Map([['tenant-isolation-default-deny', { ownedDigest: world.stored, owner: t.uid }]]), tenantOfUid: () => 'big' },
    policyIndex: { namespacesOf: () => [] },
    desired: { digestsOf: () => new Map([['tenant-isolation-default-deny', world.want]]), forget: () => undefined },
    proof: undefined,
    progress: { busy: () => world.busy, lastError: () => undefined, clashes: () => [] },
    // The computation starts here: count it, and let it take costMs.
    gate: { factsFor: () => { world.computations++; world.now += world.costMs; return { policy: undefined, installed: true, bound: true }; }, forget: () => undefined },
    labelGuarded: () => true,
    peersOf: () => 'MembershipLabel',
    membershipGuard: () => ({ installed: true, guarded: new Set(['tenant']) }),
    ...over,
  } as unknown as TenantReconcilerDeps;
  return {
    deps, world, names, r: new TenantReconciler(deps),
    obj: () => obj, setObj: (o: TenantIsolationObject) => { obj = o; },
  };
}
