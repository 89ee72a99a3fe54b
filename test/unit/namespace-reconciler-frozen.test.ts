// A namespace whose only claimant is an invalid tenant holding policies there is frozen: it keeps every
// deny (the tenant's and the baseline's), and loses only allows that are not the invalid tenant's.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { NamespaceReconciler, type NamespaceReconcilerDeps } from '../../src/controller/namespace-reconciler.ts';

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
