// The namespace reconciler with fake dependencies, for paths the integration tests cannot reach on cue.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { NamespaceReconciler, type NamespaceReconcilerDeps } from '../../src/controller/namespace-reconciler.ts';
import { narrowNamedPeers } from '../../src/policy/desired.ts';
import { tenant } from './fixtures.ts';

const policy = (name: string, owner: string) => ({ metadata: { name, namespace: 'n1', resourceVersion: '1', labels: {} }, owner, ownedDigest: `d-${name}` });
const INVALID = 'spec.profile: IsolationProfile p does not exist';

/** Fakes of what a reconcile of namespace `ns` reads and writes; only the fields it touches. */
function fakeDeps(ns: string, over: { rest?: object; membership?: object; metrics?: object; invalid?: boolean; existing?: Map<string, unknown>; desired?: object }): NamespaceReconcilerDeps {
  return {
    rest: over.rest ?? {},
    events: { record: () => undefined, recordBatched: () => undefined },
    metrics: over.metrics ?? {},
    membership: over.membership,
    invalidTenants: new Map(over.invalid === true ? [['t', INVALID]] : []),
    namespaces: { get: () => ({ metadata: { name: ns, resourceVersion: '5', labels: { tenant: 't' } } }) },
    tenants: { get: () => undefined },
    managed: { in: () => over.existing ?? new Map(), tenantOfUid: (u: string) => (u === 'uid-t' ? 't' : undefined), assumed: { assumeDeleted: () => undefined, assume: () => undefined }, squatter: () => undefined },
    desired: over.desired ?? {},
  } as unknown as NamespaceReconcilerDeps;
}
const invalidT = { claimantsOf: () => ['t'], tenant: (n: string) => (n === 't' ? { name: 't', uid: 'uid-t', invalid: INVALID } : undefined) };

describe('a namespace frozen by its invalid tenant', () => {
  it('keeps the baseline\'s deny beside the tenant\'s allows, and drops the baseline\'s allows', async () => {
    // A join cut short: the tenant's allow-dns was stored, its deny not, the baseline's three still there.
    const existing = new Map(['tenant-isolation-baseline-deny', 'tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace']
      .map((n) => [n, policy(n, 'uid-baseline')] as const));
    existing.set('tenant-isolation-allow-dns', policy('tenant-isolation-allow-dns', 'uid-t'));
    const deleted: string[] = [];
    const deps = fakeDeps('n1', { rest: { delete: (path: string) => { deleted.push(path.split('/').pop()!); return Promise.resolve({}); } }, membership: invalidT, invalid: true, existing });
    await new NamespaceReconciler(deps).reconcile('n1', pino({ level: 'silent' }));
    expect(deleted.sort()).toEqual(['tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace']);
  });
});

describe('a namespace joining a tenant in Audit', () => {
  it('ends its join untimed: it no longer jumps the queue, and a later switch to Enforce is not timed from the join', async () => {
    const audit = tenant('t', { namespaces: ['n1'], mode: 'Audit' });
    const observed: number[] = [];
    const deps = fakeDeps('n1', {
      metrics: { timeToIsolation: { observe: (s: number) => { observed.push(s); } } },
      membership: { claimantsOf: () => ['t'], tenant: () => audit, membersOf: () => ['n1'] },
      desired: { templatesFor: () => [], digestsOf: () => new Map() },
    });
    const r = new NamespaceReconciler(deps);
    r.noteJoined('n1');
    await r.reconcile('n1', pino({ level: 'silent' }));
    expect(r.isJoining('n1')).toBe(false);
    expect(observed).toEqual([]);
  });
});

describe('members frozen by an invalid tenant that names them', () => {
  const named = (values: string[]) => ({ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In' as const, values }] } });
  const intraSpec = (values: string[]) => ({ podSelector: {}, policyTypes: ['Ingress' as const, 'Egress' as const], ingress: [{ from: [named(values)] }], egress: [{ to: [named(values)] }] });

  it('narrowNamedPeers drops names no longer members, never adds, and drops a rule left with no peer', () => {
    expect(narrowNamedPeers(intraSpec(['m', 'n']), new Set(['m', 'n', 'o']))).toBeUndefined();
    expect(narrowNamedPeers(intraSpec(['m', 'n']), new Set(['m']))).toEqual(intraSpec(['m']));
    // No name left: the rule goes (an empty `from` would admit everyone); policyTypes keep both isolated.
    expect(narrowNamedPeers(intraSpec(['n']), new Set(['m']))).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [], egress: [] });
    // By the member label: nothing to narrow.
    const byLabel = { podSelector: {}, policyTypes: ['Ingress' as const], ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'isolation.tenancy.dev/member-of': 't' } } }] }] };
    expect(narrowNamedPeers(byLabel, new Set(['m']))).toBeUndefined();
  });

  it('a member stops admitting a namespace that left the tenant, by one replace, and checks again only when the members change', async () => {
    const owner = { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: 't', uid: 'uid-t', controller: true, blockOwnerDeletion: true };
    const live = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'tenant-isolation-allow-intra-tenant', namespace: 'm', resourceVersion: '7', ownerReferences: [owner], labels: {} }, spec: intraSpec(['m', 'n']) };
    const existing = new Map(['tenant-isolation-default-deny', 'tenant-isolation-allow-intra-tenant'].map((n) => [n, policy(n, 'uid-t')] as const));
    const reads: string[] = [];
    const replaced: { path: string; body: typeof live }[] = [];
    let members = ['m'];
    const deps = fakeDeps('m', {
      rest: {
        get: (path: string) => { reads.push(path); return Promise.resolve(live); },
        update: (path: string, body: typeof live) => { replaced.push({ path, body }); return Promise.resolve({ ...body, metadata: { ...body.metadata, resourceVersion: '8' } }); },
      },
      membership: { ...invalidT, membersOf: () => members }, invalid: true, existing,
    });
    const r = new NamespaceReconciler(deps);
    await r.reconcile('m', pino({ level: 'silent' }));
    expect(replaced).toHaveLength(1);
    expect(replaced[0]!.path).toBe('/apis/networking.k8s.io/v1/namespaces/m/networkpolicies/tenant-isolation-allow-intra-tenant');
    expect(replaced[0]!.body.metadata.resourceVersion).toBe('7');
    expect(replaced[0]!.body.spec).toEqual(intraSpec(['m']));
    // Same members: no read, no write.
    await r.reconcile('m', pino({ level: 'silent' }));
    expect([reads.length, replaced.length]).toEqual([1, 1]);
    members = ['m', 'o'];
    await r.reconcile('m', pino({ level: 'silent' }));
    expect(reads).toHaveLength(2);
  });
});
