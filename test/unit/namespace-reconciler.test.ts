// The namespace reconciler with fake dependencies, for paths the integration tests cannot reach on cue.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { NamespaceReconciler, type NamespaceReconcilerDeps } from '../../src/controller/namespace-reconciler.ts';
import { tenant } from './fixtures.ts';

const policy = (name: string, owner: string) => ({ metadata: { name, namespace: 'n1', resourceVersion: '1', labels: {} }, owner, ownedDigest: `d-${name}` });

describe('a namespace frozen by its invalid tenant', () => {
  it('keeps the baseline\'s deny beside the tenant\'s allows, and drops the baseline\'s allows', async () => {
    // A join cut short: the tenant's allow-dns was stored, its deny not, the baseline's three still there.
    const existing = new Map(['tenant-isolation-baseline-deny', 'tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace']
      .map((n) => [n, policy(n, 'uid-baseline')] as const));
    existing.set('tenant-isolation-allow-dns', policy('tenant-isolation-allow-dns', 'uid-t'));
    const deleted: string[] = [];
    const deps = {
      rest: { delete: (path: string) => { deleted.push(path.split('/').pop()!); return Promise.resolve({}); } },
      events: { record: () => undefined, recordBatched: () => undefined },
      metrics: {},
      membership: { claimantsOf: () => ['t'], tenant: (n: string) => (n === 't' ? { name: 't', uid: 'uid-t', invalid: 'spec.profile: IsolationProfile p does not exist' } : undefined) },
      invalidTenants: new Map([['t', 'spec.profile: IsolationProfile p does not exist']]),
      namespaces: { get: () => ({ metadata: { name: 'n1', resourceVersion: '5', labels: { tenant: 't' } } }) },
      tenants: { get: () => undefined },
      managed: { in: () => existing, tenantOfUid: (u: string) => (u === 'uid-t' ? 't' : undefined), assumed: { assumeDeleted: () => undefined, assume: () => undefined }, squatter: () => undefined },
      desired: {},
    } as unknown as NamespaceReconcilerDeps;
    await new NamespaceReconciler(deps).reconcile('n1', pino({ level: 'silent' }));
    expect(deleted.sort()).toEqual(['tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace']);
  });
});

describe('a namespace joining a tenant in Audit', () => {
  it('ends its join untimed: it no longer jumps the queue, and a later switch to Enforce is not timed from the join', async () => {
    const audit = tenant('t', { namespaces: ['n1'], mode: 'Audit' });
    const observed: number[] = [];
    const deps = {
      rest: {},
      events: { record: () => undefined, recordBatched: () => undefined },
      metrics: { timeToIsolation: { observe: (s: number) => { observed.push(s); } } },
      membership: { claimantsOf: () => ['t'], tenant: () => audit, membersOf: () => ['n1'] },
      invalidTenants: new Map(),
      namespaces: { get: () => ({ metadata: { name: 'n1', resourceVersion: '5', labels: {} } }) },
      tenants: { get: () => undefined },
      managed: { in: () => new Map(), tenantOfUid: () => undefined, squatter: () => undefined },
      desired: { templatesFor: () => [], digestsOf: () => new Map() },
    } as unknown as NamespaceReconcilerDeps;
    const r = new NamespaceReconciler(deps);
    r.noteJoined('n1');
    await r.reconcile('n1', pino({ level: 'silent' }));
    expect(r.isJoining('n1')).toBe(false);
    expect(observed).toEqual([]);
  });
});
