import { describe, expect, it } from 'vitest';
import { OperatorMetrics, type FleetCounts } from '../../src/metrics/metrics.ts';

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

  it('read 0 before the manager reports a fleet', async () => {
    const text = await new OperatorMetrics({ processMetrics: false }).registry.metrics();
    expect(line(text, 'tenant_isolation_namespaces{state="Isolated"}')).toBe(0);
    expect(line(text, 'tenant_isolation_breached_tenants')).toBe(0);
  });
});
