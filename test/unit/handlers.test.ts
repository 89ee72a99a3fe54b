// The informer handlers' routing (src/controller/handlers.ts): which keys an event queues. Fake informers
// hand the handlers events; the indexes are the real ones.
import { describe, expect, it } from 'vitest';
import type { TenantIsolationObject } from '../../src/api/schema.ts';
import type { ClusterCaches } from '../../src/controller/caches.ts';
import { wireHandlers, type Enqueue, type HandlerTargets } from '../../src/controller/handlers.ts';
import { ManagedPolicyIndex } from '../../src/controller/indexes.ts';
import { ProfileIndex } from '../../src/controller/profile-index.ts';
import type { InformerHandlers } from '../../src/kube/informer.ts';
import { AssumedWrites } from '../../src/kube/assumed.ts';
import type { CachedPolicy } from '../../src/policy/diff.ts';
import { MembershipIndex } from '../../src/policy/membership.ts';
import type { NamespaceObject } from '../../src/policy/types.ts';

class FakeInformer<T> {
  h: InformerHandlers<T> = {};
  readonly hasSynced = true;
  on(h: InformerHandlers<T>): void { this.h = h; }
  list(): T[] { return []; }
  get(): T | undefined { return undefined; }
}

function wired(o: { ownEcho?: (ns: NamespaceObject) => boolean } = {}) {
  const namespaces = new FakeInformer<NamespaceObject>();
  const policies = new FakeInformer<CachedPolicy>();
  const assumed = new AssumedWrites<CachedPolicy>();
  const tenants = new FakeInformer<TenantIsolationObject>();
  const informer = () => new FakeInformer<unknown>();
  const caches = {
    namespaces, tenants, profiles: informer(), baselines: informer(), policies, pods: undefined,
    bindings: informer(), admissionPolicies: informer(), membershipKeys: informer(),
    managed: { assumed }, all: [],
  } as unknown as ClusterCaches;
  const queued: string[] = [];
  const enqueue: Enqueue = {
    namespace: (n) => queued.push(`ns/${n}`), newNamespace: (n) => queued.push(`ns/${n}`), tenant: (n) => queued.push(`tenant/${n}`),
    tenantStatus: (n) => queued.push(`status/${n}`), profile: () => undefined, baseline: () => undefined, gate: () => undefined,
  };
  const membership = new MembershipIndex();
  const targets = {
    caches, membership, invalidTenants: new Map(), tenantUids: new Map(), policyIndex: new ManagedPolicyIndex(),
    profiles: new ProfileIndex(() => undefined), proof: undefined,
    namespaceReconciler: { noteJoined: () => undefined, isJoining: () => false, forget: () => undefined, isOwnLabelEcho: o.ownEcho ?? (() => false) },
    tenantReconciler: { forget: () => undefined },
    enqueue,
    peerModes: { of: () => 'MembershipLabel', inUse: () => 'MembershipLabel', settle: () => undefined, guardChanged: () => undefined },
    reconciling: () => false,
    membershipKeys: { observed: () => undefined }, gateBindings: { observed: () => undefined },
  } as unknown as HandlerTargets;
  wireHandlers(targets);
  return { namespaces, tenants, policies, assumed, membership, queued };
}

const tenantObj = (name: string, value: string, generation: number): TenantIsolationObject =>
  ({ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name, uid: `uid-${name}`, generation }, spec: { namespaceSelector: { matchLabels: { tenant: value } } } });
const nsObj = (name: string, labels: Record<string, string>, rv: string): NamespaceObject => ({ metadata: { name, labels, resourceVersion: rv } });

describe('informer handlers', () => {
  it('a tenant that stops claiming a namespace queues it, though none of its policies has been seen there yet', () => {
    // The namespace's join is in flight: its policies are not in the policy index, only the claim says it is the tenant's.
    const w = wired();
    w.tenants.h.add!(tenantObj('acme', 'acme', 1));
    w.namespaces.h.add!(nsObj('web', { tenant: 'acme' }, '1'));
    expect(w.membership.claimantsOf('web')).toEqual(['acme']);
    w.queued.length = 0;
    const before = tenantObj('acme', 'acme', 1);
    w.tenants.h.update!(tenantObj('acme', 'other', 2), before);
    expect(w.membership.claimantsOf('web')).toEqual([]);
    expect(w.queued).toContain('ns/web');
  });

  it('an invalid tenant is indexed again when its recorded mode changes (it keeps that mode); a valid one is not', () => {
    const w = wired();
    // Valid for the CRD, refused by the operator (a double hyphen): it claims its namespaces and fails closed.
    const broken = (mode: 'Audit' | 'Enforce' | undefined): TenantIsolationObject => ({
      ...tenantObj('acme', 'acme', 2),
      spec: { namespaceSelector: { matchLabels: { tenant: 'acme' } }, dns: { ports: [{ protocol: 'TCP', port: 'dns--tcp' }] } },
      ...(mode ? { status: { mode } } : {}),
    });
    w.tenants.h.add!(broken('Enforce'));
    expect(w.membership.tenant('acme')?.spec.mode).toBe('Enforce');
    w.tenants.h.update!(broken('Audit'), broken('Enforce'));
    expect(w.membership.tenant('acme')?.spec.mode).toBe('Audit');
    // A valid tenant's status writes (the same generation) never index it again: only its status is queued.
    const valid = tenantObj('globex', 'globex', 1);
    w.tenants.h.add!(valid);
    w.queued.length = 0;
    w.tenants.h.update!({ ...valid, status: { mode: 'Enforce' } }, valid);
    expect(w.queued).toEqual(['status/globex']);
  });

  it('a deleted tenant queues the namespaces it claimed', () => {
    const w = wired();
    const acme = tenantObj('acme', 'acme', 1);
    w.tenants.h.add!(acme);
    w.namespaces.h.add!(nsObj('web', { tenant: 'acme' }, '1'));
    w.queued.length = 0;
    w.tenants.h.delete!(acme);
    expect(w.queued).toContain('ns/web');
  });

  it('the echo of our own label write queues only the status, unless other labels changed with it', () => {
    const w = wired({ ownEcho: (ns) => ns.metadata.resourceVersion === '5' });
    w.tenants.h.add!(tenantObj('acme', 'acme', 1));
    const old = nsObj('web', { tenant: 'acme' }, '4');
    w.namespaces.h.add!(old);
    w.queued.length = 0;
    w.namespaces.h.update!(nsObj('web', { tenant: 'acme', 'isolation.tenancy.dev/member-of': 'acme' }, '5'), old);
    expect(w.queued).toEqual(['status/acme']);
    // A relist folded someone's edit (a label no claim reads) into the event of our write: planned again.
    w.queued.length = 0;
    w.namespaces.h.update!(nsObj('web', { tenant: 'acme', team: 'x', 'isolation.tenancy.dev/member-of': 'acme' }, '5'), old);
    expect(w.queued).toContain('ns/web');
  });

  it('a relist that no longer shows a policy we wrote queues its namespace (created and deleted in the watch\'s gap)', () => {
    const w = wired();
    w.assumed.assume({ metadata: { name: 'tenant-isolation-default-deny', namespace: 'web', resourceVersion: '5' } } as unknown as CachedPolicy);
    w.policies.h.relisted!('10');
    expect(w.queued).toEqual(['ns/web']);
    expect(w.assumed.size).toBe(0);
  });
});
