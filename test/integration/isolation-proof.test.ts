// The operator proves isolation from what is in the cluster: a tenant-written permissive policy flips
// the tenant's Isolated condition to False naming that policy, and removing it flips it back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOperator } from '../../src/cli/run.ts';
import { applyTenant, condition, createNamespace, eventually, events, kubeconfig, policyNames, rest, settled, startTestOperator, unique } from '../harness/cluster.ts';
import { cli } from '../harness/run.ts';

const verify = (...args: string[]) => cli(['verify', '--kubeconfig', kubeconfig(), ...args]);

let op: RunningOperator;
beforeAll(async () => { op = await startTestOperator(); });
afterAll(async () => { await op.stop(); });

async function createPod(namespace: string, name: string, labels: Record<string, string>): Promise<void> {
  const r = await rest();
  // The ServiceAccount admission plugin needs the namespace's default ServiceAccount (made by the
  // controller-manager moments after the namespace).
  await eventually(async () => r.create(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
    spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
  }, 'tests').then(() => true), `pod ${namespace}/${name}`, 20_000);
}

describe('the Isolated condition', () => {
  it('is True with only the operator\'s policies, False naming a tenant-written allow-all within a second, True again once it is gone', async () => {
    const t = unique('t-proof');
    const [a, b, outside] = [unique('proof-a'), unique('proof-b'), unique('proof-out')];
    await createNamespace(a, { tenant: t });
    await createNamespace(b, { tenant: t });
    await createNamespace(outside);
    await createPod(a, 'web', { app: 'web' });
    await createPod(b, 'db', { app: 'db' });
    await createPod(outside, 'intruder', { app: 'x' });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await eventually(async () => (await policyNames(a)).length === 3, 'a isolated');
    const ok = await eventually(async () => { const c = await condition(t, 'Isolated'); return c?.status === 'True' ? c : undefined; }, 'Isolated=True');
    expect(ok.reason).toBe('NoBreach');

    // A tenant user opens their namespace to everyone.
    const r = await rest();
    const t0 = performance.now();
    await r.create(`/apis/networking.k8s.io/v1/namespaces/${a}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-all-ingress' },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
    }, 'tenant-user');
    const breached = await eventually(async () => { const c = await condition(t, 'Isolated'); return c?.status === 'False' ? c : undefined; }, 'Isolated=False', 5_000);
    const flipMs = performance.now() - t0;
    console.log(`Isolated flipped to False ${flipMs.toFixed(0)} ms after the policy was created`);
    expect(flipMs).toBeLessThan(1_000);
    expect(breached.reason).toBe('BreachedBy');
    expect(breached.message).toContain(`${a}/allow-all-ingress`);
    expect(breached.message).toMatch(new RegExp(`${outside}|external`));
    // Events are recorded after the status write that reports the transition.
    await eventually(async () => (await events(t)).some((e) => e.reason === 'IsolationBreached' && e.message.includes('allow-all-ingress')), 'an IsolationBreached event naming the policy');
    // The gauge counts every tenant in the cluster, those earlier test files left too: read it once the
    // operator has settled on all of them, so that only this tenant's change moves it.
    const breachedTenants = async (): Promise<number> => {
      const all = (await r.get<{ items: { metadata: { name: string } }[] }>('/apis/isolation.tenancy.dev/v1alpha1/tenantisolations')).items.map((x) => x.metadata.name);
      await settled(op, { tenants: all }, 30_000);
      return (await op.metrics.breachedTenants.get()).values[0]!.value;
    };
    const whileBreached = await breachedTenants();
    expect(whileBreached).toBeGreaterThanOrEqual(1); // this tenant, and any an earlier test left breached

    await r.delete(`/apis/networking.k8s.io/v1/namespaces/${a}/networkpolicies/allow-all-ingress`);
    await eventually(async () => (await condition(t, 'Isolated'))?.status === 'True', 'Isolated=True again', 5_000);
    expect(await breachedTenants()).toBe(whileBreached - 1);
  });

  it('does not count declared paths: an allow entry, DNS and intra-tenant traffic are not breaches', async () => {
    const t = unique('t-decl');
    const [a, b, shared] = [unique('decl-a'), unique('decl-b'), unique('decl-shared')];
    await createNamespace(shared, { role: 'shared' });
    await createNamespace(a, { tenant: t });
    await createNamespace(b, { tenant: t });
    await createPod(a, 'web', { app: 'web' });
    await createPod(b, 'web', { app: 'web' });
    await createPod(shared, 'ingress', { app: 'ingress' });
    await applyTenant(t, {
      namespaceSelector: { matchLabels: { tenant: t } },
      allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { role: 'shared' } }, ports: [{ protocol: 'TCP', port: 8080 }] }] },
    });
    await eventually(async () => (await policyNames(a)).length === 4, 'a isolated with the extra allow');
    await eventually(async () => (await policyNames(b)).length === 4, 'b isolated with the extra allow');
    // Read once the operator has done all it will: a True seen before the allow policies were analysed proves nothing.
    await settled(op, { namespaces: [a, b, shared], tenants: [t] });
    const ok = await condition(t, 'Isolated');
    expect(ok, JSON.stringify(ok)).toMatchObject({ status: 'True', reason: 'NoBreach' });
    // The same opening, but on a port the tenant did not declare, is a breach.
    await (await rest()).create(`/apis/networking.k8s.io/v1/namespaces/${a}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'team-debug-port' },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { role: 'shared' } } }], ports: [{ protocol: 'TCP', port: 9090 }] }] },
    }, 'tenant-user');
    await eventually(async () => (await condition(t, 'Isolated'))?.status === 'False' || undefined, 'Isolated=False', 5_000);
    await settled(op, { namespaces: [a, b, shared], tenants: [t] });
    const c = (await condition(t, 'Isolated'))!;
    expect(c.status).toBe('False');
    expect(c.reason).toBe('BreachedBy');
    expect(c.message).toContain('team-debug-port');
    expect(c.message).toContain('9090');
    // That one breach and nothing else: not the declared allow (on 8080), and no further ones ("(and N more)").
    expect(c.message).not.toContain('(and');
    expect(c.message).not.toContain('tenant-isolation-allow-extra');
  });

  it('tenant-isolation verify against the cluster agrees: exit 0 while isolated, 1 with the breach named', async () => {
    const t = unique('t-verify');
    const ns = unique('verify');
    await createNamespace(ns, { tenant: t });
    await createPod(ns, 'web', { app: 'web' });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await eventually(async () => (await policyNames(ns)).length === 3, 'isolated');
    const ok = await verify('--tenant', t, '-o', 'json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as { tenants: string[] }).tenants).toContain(t);
    await (await rest()).create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'egress-anywhere' },
      spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{}] },
    }, 'tenant-user');
    const bad = await verify('--tenant', t);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`${ns}/egress-anywhere admits it`);
  });
});
