// A short smoke of the chaos suite (bench/chaos.ts runs it for 10 minutes): churn and four kinds of fault
// against two operator replicas running as the shipped ServiceAccount, and an invariant checker that
// must find nothing wrong at each quiet point. And the checker itself must find a wrong state.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos/run.ts';
import { checkInvariants } from '../../bench/chaos/invariants.ts';
import { TENANT_LABEL } from '../../bench/chaos/churn.ts';
import { OPERATOR_NAMESPACE, applyTenant, createNamespace, deleteTenant, kubeconfig, operatorKubeconfig, rest, unique } from '../harness/cluster.ts';
import { repo } from '../harness/run.ts';

const clusterDir = (): string | undefined => (existsSync(join(dirname(kubeconfig()), 'run', 'ports')) ? dirname(kubeconfig()) : undefined);

describe('chaos (smoke)', () => {
  it('the invariant checker reports a tenant namespace without its policies', async () => {
    const prefix = unique('chaos-neg');
    const t = `${prefix}-t`;
    const ns = `${prefix}-n`;
    await applyTenant(t, { namespaceSelector: { matchLabels: { [TENANT_LABEL]: t } } });
    await createNamespace(ns, { [TENANT_LABEL]: t });
    try {
      // No operator runs in this file: nothing isolates the namespace.
      const r = await checkInvariants(await rest(), prefix, repo);
      expect(r.violations).toContain(`${ns}: tenant ${t} wants tenant-isolation-default-deny, tenant-isolation-allow-dns, tenant-isolation-allow-intra-tenant, holds `);
      expect(r.violations.some((v) => v.startsWith(`${t}: observedGeneration undefined`))).toBe(true);
    } finally {
      await deleteTenant(t);
      await (await rest()).delete(`/api/v1/namespaces/${ns}`);
    }
  });

  it('churn with four kinds of fault (a fixed seed) leaves no invariant violated', async (ctx) => {
    const dir = clusterDir();
    if (!dir) { ctx.skip('needs the hack/local-cluster.sh directory of the test cluster (run/ports next to the kubeconfig)'); return; }
    const report = await runChaos({
      kubeconfig: kubeconfig(), operatorKubeconfig: operatorKubeconfig(), leaseNamespace: OPERATOR_NAMESPACE, clusterDir: dir,
      durationMs: 30_000, seed: 20260101, lease: { durationS: 6, renewS: 4, retryS: 1 }, convergeTimeoutMs: 60_000,
    });
    console.log(JSON.stringify(report));
    expect(report.violationSamples).toEqual([]);
    expect(report.violations).toBe(0);
    expect(report.faults.total).toBeGreaterThanOrEqual(4);
    expect(Object.keys(report.faults.byKind).length).toBeGreaterThanOrEqual(4);
    expect(report.invariantChecks).toBeGreaterThan(0);
    expect(report.leftoverTenants).toBe(0); // nothing for later test files to clean up
  }, 300_000);
});
