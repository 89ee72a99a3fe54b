import { describe, expect, it } from 'vitest';
import { OperatorMetrics, type FleetCounts } from '../../src/metrics/metrics.ts';
import { countFleetStatuses } from '../../src/controller/tenant-status.ts';
import type { TenantIsolationObject } from '../../src/api/schema.ts';

const counts = (isolated: number): FleetCounts => ({
  tenants: { all: 3, Ready: 2, Isolated: 2, Reconciling: 1, Stalled: 0 },
  namespaces: { Isolated: isolated, Pending: 1, Conflict: 2, Terminating: 0, WouldIsolate: 0 },
  peerModes: { MembershipLabel: 2, NamespaceNames: 1 },
  managedPolicies: 3 * isolated, breaches: 4, breachedTenants: 1,
});

const line = (text: string, series: string): number => Number(text.split('\n').find((l) => l.startsWith(`${series} `))?.split(' ')[1]);

describe('fleet gauges', () => {
  it('are counted when scraped, once per scrape, and follow the fleet between scrapes', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    let calls = 0;
    let isolated = 5;
    m.observeFleet(() => { calls++; return counts(isolated); });
    expect(calls).toBe(0); // nothing walks the fleet until someone scrapes
    const first = await m.registry.metrics();
    expect(calls).toBe(1);
    expect(line(first, 'tenant_isolation_namespaces{state="Isolated"}')).toBe(5);
    expect(line(first, 'tenant_isolation_conflicts')).toBe(2);
    expect(line(first, 'tenant_isolation_tenants{condition="Reconciling"}')).toBe(1);
    expect(line(first, 'tenant_isolation_intra_tenant_peers{mode="NamespaceNames"}')).toBe(1);
    expect(line(first, 'tenant_isolation_managed_policies')).toBe(15);
    expect(line(first, 'tenant_isolation_breaches')).toBe(4);
    expect(line(first, 'tenant_isolation_breached_tenants')).toBe(1);
    isolated = 7;
    await new Promise(setImmediate); // the next scrape: a later turn of the event loop, as the next HTTP request is
    const second = await m.registry.metrics();
    expect(calls).toBe(2);
    expect(line(second, 'tenant_isolation_namespaces{state="Isolated"}')).toBe(7);
    expect(line(second, 'tenant_isolation_managed_policies')).toBe(21);
  });

  it('a label value the count no longer has goes, instead of keeping its last value', async () => {
    const m = new OperatorMetrics({ processMetrics: false });
    let fleet: FleetCounts = { ...counts(1), tenants: { all: 1, Gated: 1, Excluded: 0 }, namespaces: { Isolated: 1, Excluded: 2 } };
    m.observeFleet(() => fleet);
    const first = await m.registry.metrics();
    expect(line(first, 'tenant_isolation_tenants{condition="Gated"}')).toBe(1);
    expect(line(first, 'tenant_isolation_namespaces{state="Excluded"}')).toBe(2);
    fleet = { ...counts(1), tenants: { all: 0, Gated: 0 }, namespaces: { Isolated: 0 } };
    await new Promise(setImmediate);
    const second = await m.registry.metrics();
    expect(line(second, 'tenant_isolation_tenants{condition="Gated"}')).toBe(0);
    expect(second).not.toContain('tenant_isolation_namespaces{state="Excluded"}');
  });

  it('read 0 before the manager reports a fleet', async () => {
    const text = await new OperatorMetrics({ processMetrics: false }).registry.metrics();
    expect(line(text, 'tenant_isolation_namespaces{state="Isolated"}')).toBe(0);
    expect(line(text, 'tenant_isolation_breached_tenants')).toBe(0);
    expect(line(text, 'tenant_isolation_tenants{condition="MembershipGuarded"}')).toBe(0);
  });
});

describe('countFleetStatuses', () => {
  type T = TenantIsolationObject;
  const obj = (name: string, namespaces: [string, string][], o: { stalled?: boolean; deleting?: boolean } = {}): T => ({
    apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation',
    metadata: { name, uid: name, ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) },
    spec: {},
    status: {
      conditions: o.stalled ? [{ type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' }] : [],
      namespaces: namespaces.map(([n, state]) => ({ name: n, state })),
    },
  } as unknown as T);
  const exists = (): boolean => true;

  it('a frozen status (invalid or deleting tenant) never outvotes a live one, whatever the order', () => {
    const frozen = obj('a', [['ns1', 'Isolated']], { stalled: true });
    const deleting = obj('c', [['ns1', 'Isolated']], { deleting: true });
    const live = obj('b', [['ns1', 'Pending']]);
    for (const order of [[frozen, deleting, live], [live, frozen, deleting], [frozen, live, deleting]]) {
      const c = countFleetStatuses(order, exists);
      expect(c.namespaces).toMatchObject({ Isolated: 0, Pending: 1 });
    }
  });

  it('counts every condition label at 0 when none holds, and skips namespaces that no longer exist', () => {
    const c = countFleetStatuses([obj('a', [['gone', 'Isolated'], ['here', 'Isolated']])], (ns) => ns === 'here');
    expect(c.tenants).toMatchObject({ all: 1, Gated: 0, MembershipGuarded: 0, Stalled: 0 });
    expect(c.namespaces).toMatchObject({ Isolated: 1 });
  });
});
