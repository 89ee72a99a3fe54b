// A short smoke of the chaos suite (bench/chaos.ts runs it for 10 minutes): churn and four kinds of fault
// against two operator replicas running as the shipped ServiceAccount, and invariant checkers that must
// find nothing wrong. And the checkers themselves must find a wrong state: a tenant namespace without its
// policies, and a pod admitted there because no gate binding holds it (a forged status; and a real
// operator's, once it is stopped and the gate's binding deleted).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos/run.ts';
import { judgeAdmissions } from '../../bench/chaos/admission.ts';
import { History } from '../../bench/chaos/history.ts';
import { checkInvariants } from '../../bench/chaos/invariants.ts';
import { TENANT_LABEL } from '../../bench/chaos/churn.ts';
import { OPERATOR_NAMESPACE, applyTenant, condition, createNamespace, createPod, deleteTenant, eventually, getTenant, kubeconfig, operatorKubeconfig, rest, settled, startTestOperator, unique } from '../harness/cluster.ts';
import { repo } from '../harness/run.ts';

const BINDINGS = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
const clusterDir = (): string | undefined => (existsSync(join(dirname(kubeconfig()), 'run', 'ports')) ? dirname(kubeconfig()) : undefined);

/**
 * Creates pod `early` in `ns` once the namespace admits it, and expects the admission checker to report it
 * as admitted before its tenant `t` had isolated the namespace.
 */
async function expectEarlyPodReported(history: History, ns: string, t: string, sentAt: number, waitingFor: string): Promise<void> {
  const pod = await eventually(() => createPod(ns, 'early').then((p) => p as { metadata: { resourceVersion: string } }, () => undefined), waitingFor);
  await history.sync();
  const judged = judgeAdmissions(history, [{ namespace: ns, name: 'early', sentAt, moment: 'after-create', outcome: 'admitted', rv: BigInt(pod.metadata.resourceVersion) }], new Set());
  expect(judged.violations).toEqual([`pod ${ns}/early admitted at revision ${pod.metadata.resourceVersion} (after-create; gate claimed by ${t}): it held no tenant-isolation-default-deny; it was not labelled isolation.tenancy.dev/isolated=true in any state the gate may have read`]);
}

/** Deletes the namespace and what the history's barrier made. */
async function removeRecord(history: History, ns: string): Promise<void> {
  const r = await rest();
  for (const n of [ns, history.barrierName]) await r.delete(`/api/v1/namespaces/${n}`);
  await r.delete(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${history.barrierName}`);
}

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

  it('the admission checker reports a pod admitted before isolation in a tenant that says it is gated', async () => {
    const prefix = unique('chaos-gate');
    const t = `${prefix}-t`;
    const ns = `${prefix}-n`;
    const r = await rest();
    const history = new History(r, prefix);
    await history.start();
    try {
      // The tenant's status claims the gate, as the operator writes it once the binding is in force; but no
      // binding covers the tenant (no operator runs here), so nothing holds the pod.
      const stored = await applyTenant(t, { namespaceSelector: { matchLabels: { [TENANT_LABEL]: t } } });
      await r.mergePatch(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}/status`, { status: {
        observedGeneration: stored.metadata.generation,
        conditions: [{ type: 'Gated', status: 'True', reason: 'PodsWaitForIsolation', message: 'test', lastTransitionTime: new Date().toISOString() }],
      } }, 'tests');
      await createNamespace(ns, { [TENANT_LABEL]: t });
      const sentAt = performance.now();
      await expectEarlyPodReported(history, ns, t, sentAt, 'the namespace\'s ServiceAccount');
    } finally {
      await history.stop();
      await deleteTenant(t);
      await removeRecord(history, ns);
    }
  });

  it('the admission checker reports a pod admitted once the gate\'s binding is gone while the tenant still says it is gated', async () => {
    const prefix = unique('chaos-nogate');
    const t = `${prefix}-t`;
    const ns = `${prefix}-n`;
    const r = await rest();
    const history = new History(r, prefix);
    await history.start();
    let op: Awaited<ReturnType<typeof startTestOperator>> | undefined = await startTestOperator();
    try {
      await applyTenant(t, { namespaceSelector: { matchLabels: { [TENANT_LABEL]: t } } });
      await eventually(async () => { const c = await condition(t, 'Gated'); return (c?.status === 'True' && c.reason === 'PodsWaitForIsolation') || undefined; }, 'the operator to say the tenant\'s pods wait for isolation');
      await settled(op, { tenants: [t] });
      await op.stop();
      op = undefined;
      // Nothing repairs the gate now: its bindings go, the tenant's status still says Gated=True.
      const bindings = (await r.get<{ items: { metadata: { name: string }; spec: { policyName: string } }[] }>(BINDINGS)).items.filter((b) => b.spec.policyName === 'tenant-isolation-pod-gate');
      expect(bindings.length).toBeGreaterThan(0);
      for (const b of bindings) await r.delete(`${BINDINGS}/${b.metadata.name}`);
      await createNamespace(ns, { [TENANT_LABEL]: t });
      const sentAt = performance.now();
      // Admitted once the apiserver has dropped the binding (its policies refresh each second) and the
      // namespace has its ServiceAccount.
      await expectEarlyPodReported(history, ns, t, sentAt, 'the pod to be admitted without the gate');
    } finally {
      await history.stop();
      // An operator again puts the bindings back, then removes the tenant's finalizer.
      await op?.stop();
      op = await startTestOperator();
      await deleteTenant(t);
      await removeRecord(history, ns);
      await eventually(async () => (await getTenant(t) === undefined) || undefined, 'the tenant to be deleted');
      await op.stop();
    }
  }, 60_000);

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
    // Pods were tried at every kind of moment, the gate refused some, and every admitted one was judged.
    expect(report.admission.gate).toBe(true);
    expect(report.admission.refusedByGate).toBeGreaterThan(0);
    expect(report.admission.admittedIsolatedByTheirTenant).toBeGreaterThan(0);
    expect(report.admission.notJudged).toBe(0);
    // The operator's labels were judged in every stored state: isolated runs and member sets were seen.
    expect(report.labels.violations).toBe(0);
    expect(report.labels.isolatedRuns).toBeGreaterThan(0);
    expect(report.labels.memberSets).toBeGreaterThan(0);
    expect(report.labels.notJudged).toBe(0);
    expect(report.leftoverTenants).toBe(0); // nothing for later test files to clean up
  }, 300_000);
});
