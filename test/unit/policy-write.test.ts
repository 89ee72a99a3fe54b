// How the namespace controller writes one policy: a create for a name it does not know, a replace guarded
// by resourceVersion otherwise, one re-read when someone else wrote in between, and never a write over a
// policy that is not the operator's. Against a fake apiserver holding the one policy.
import { describe, expect, it } from 'vitest';
import { statusError } from '../../src/kube/api-errors.ts';
import type { CachedPolicy } from '../../src/policy/diff.ts';
import type { NetworkPolicy } from '../../src/policy/types.ts';
import { allWritten, writePolicy } from '../../src/controller/policy-write.ts';

const OURS = 'uid-ours';
const owned = (uid: string) => [{ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: 't', uid, controller: true }];
const desired: NetworkPolicy = {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
  metadata: { name: 'tenant-isolation-default-deny', namespace: 'ns', ownerReferences: owned(OURS) },
  spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
};
const fail = (code: number, reason: string) => statusError('fake', code, { kind: 'Status', code, reason, message: reason }, '');
const isOurs = (p: CachedPolicy): boolean => p.owner === OURS;

/** The fake's answer, as a promise (a throw becomes a rejection). */
const answer = <T>(fn: () => T): Promise<T> => new Promise<T>((resolve) => resolve(fn()));

/** One stored policy (or none), with the resourceVersion checks of a real apiserver. */
function fakeApiserver(stored: { rv: number; owner: string } | undefined, o: { conflictAlways?: boolean; forbidden?: boolean } = {}) {
  let obj = stored ? { ...stored } : undefined;
  const calls: string[] = [];
  const asPolicy = (x: { rv: number; owner: string }): NetworkPolicy => ({ ...desired, metadata: { ...desired.metadata, resourceVersion: String(x.rv), ownerReferences: owned(x.owner) } });
  const rest = {
    create: <T>(_path: string, body: unknown): Promise<T> => answer(() => {
      calls.push('create');
      if (obj) throw fail(409, 'AlreadyExists');
      obj = { rv: 100, owner: (body as NetworkPolicy).metadata.ownerReferences![0]!.uid };
      return asPolicy(obj) as T;
    }),
    get: <T>(): Promise<T> => answer(() => {
      calls.push('get');
      if (!obj) throw fail(404, 'NotFound');
      return asPolicy(obj) as T;
    }),
    update: <T>(_path: string, body: unknown): Promise<T> => answer(() => {
      const rv = (body as NetworkPolicy).metadata.resourceVersion;
      calls.push(`update@${rv}`);
      if (o.forbidden) throw fail(403, 'Forbidden');
      if (!obj) throw fail(404, 'NotFound');
      if (o.conflictAlways) obj.rv++; // someone else's write lands just before each of ours
      if (String(obj.rv) !== rv) throw fail(409, 'Conflict');
      obj = { rv: obj.rv + 1, owner: (body as NetworkPolicy).metadata.ownerReferences![0]!.uid };
      return asPolicy(obj) as T;
    }),
  };
  return { rest, calls, stored: () => obj };
}
const cached = (rv: number): CachedPolicy => ({ metadata: { name: desired.metadata.name, namespace: 'ns', resourceVersion: String(rv), labels: {} }, owner: OURS, ownedDigest: 'd' });

describe('writePolicy', () => {
  it('creates a policy the operator does not know, with one request', async () => {
    const f = fakeApiserver(undefined);
    const r = await writePolicy(f.rest, isOurs, desired, undefined);
    expect(r).toMatchObject({ outcome: 'written', stored: { metadata: { resourceVersion: '100' }, owner: OURS } });
    expect(f.calls).toEqual(['create']);
  });

  it('replaces its own policy with one request guarded by the resourceVersion it read', async () => {
    const f = fakeApiserver({ rv: 5, owner: OURS });
    const r = await writePolicy(f.rest, isOurs, desired, cached(5));
    expect(r).toMatchObject({ outcome: 'written', stored: { metadata: { resourceVersion: '6' } } });
    expect(f.calls).toEqual(['update@5']);
  });

  it('never writes over a name someone else\'s policy holds: a clash', async () => {
    const f = fakeApiserver({ rv: 5, owner: 'uid-someone' });
    expect(await writePolicy(f.rest, isOurs, desired, undefined)).toEqual({ outcome: 'clash' });
    expect(f.calls).toEqual(['create', 'get']);
    expect(f.stored()).toEqual({ rv: 5, owner: 'uid-someone' });
  });

  it('replaces its own policy that the cache had not shown yet (the create meets AlreadyExists)', async () => {
    const f = fakeApiserver({ rv: 5, owner: OURS });
    expect(await writePolicy(f.rest, isOurs, desired, undefined)).toMatchObject({ outcome: 'written' });
    expect(f.calls).toEqual(['create', 'get', 'update@5']);
  });

  it('reads once more when someone wrote in between, and replaces the version it then read', async () => {
    const f = fakeApiserver({ rv: 7, owner: OURS });
    expect(await writePolicy(f.rest, isOurs, desired, cached(5))).toMatchObject({ outcome: 'written', stored: { metadata: { resourceVersion: '8' } } });
    expect(f.calls).toEqual(['update@5', 'get', 'update@7']);
  });

  it('creates it again when it was deleted since it was read', async () => {
    const f = fakeApiserver(undefined);
    expect(await writePolicy(f.rest, isOurs, desired, cached(5))).toMatchObject({ outcome: 'written' });
    expect(f.calls).toEqual(['update@5', 'get', 'create']);
  });

  it('leaves a policy that someone else\'s replaced ours with: a clash, not a write', async () => {
    const f = fakeApiserver({ rv: 9, owner: 'uid-someone' });
    expect(await writePolicy(f.rest, isOurs, desired, cached(5))).toEqual({ outcome: 'clash' });
    expect(f.calls).toEqual(['update@5', 'get']);
    expect(f.stored()).toEqual({ rv: 9, owner: 'uid-someone' });
  });

  it('gives up after one re-read (the reconcile is retried with backoff), and passes other errors on at once', async () => {
    const busy = fakeApiserver({ rv: 5, owner: OURS }, { conflictAlways: true });
    await expect(writePolicy(busy.rest, isOurs, desired, cached(4))).rejects.toMatchObject({ reason: 'Conflict' });
    expect(busy.calls).toEqual(['update@4', 'get', 'update@6']); // two writes at most, then the error
    const denied = fakeApiserver({ rv: 5, owner: OURS }, { forbidden: true });
    await expect(writePolicy(denied.rest, isOurs, desired, cached(5))).rejects.toMatchObject({ reason: 'Forbidden' });
    expect(denied.calls).toEqual(['update@5']);
  });
});

describe('allWritten', () => {
  it('throws the first failure only once every write has ended, so no write outlives its reconcile', async () => {
    let slowEnded = false;
    let release!: () => void;
    const slow = new Promise<string>((resolve) => { release = () => { slowEnded = true; resolve('slow'); }; });
    const outcome = allWritten([Promise.reject(new Error('refused')), slow]).then(() => 'resolved', (e: Error) => e.message);
    let settled = false;
    void outcome.then(() => { settled = true; });
    // The rejection is known at once; Promise.all would have settled by now.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    await new Promise((r) => setImmediate(r));
    expect(settled).toBe(false);
    release();
    expect(await outcome).toBe('refused');
    expect(slowEnded).toBe(true);
  });

  it('returns every result in order when all succeed', async () => {
    expect(await allWritten([Promise.resolve(1), new Promise<number>((r) => setTimeout(() => r(2), 5))])).toEqual([1, 2]);
  });
});
