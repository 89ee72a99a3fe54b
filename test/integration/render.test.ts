// `render` is byte-for-byte what the operator applies: render -> apply -> the operator writes nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { cli as run, repo } from '../harness/run.ts';
import { applyTenant, createNamespace, eventually, getTenant, kubectl, policies, policyNames, rest, startTestOperator, unique, withoutMemberLabelGuard } from '../harness/cluster.ts';

const tmp = tempDirs();

const cli = (...args: string[]) => run(args);

// render prints the policies of tenants that name their members by namespace name (it cannot know whether a
// cluster's admission gate guards the member label): compared here with a cluster without that guard.
let restoreGuard: () => Promise<void>;
beforeAll(async () => { restoreGuard = await withoutMemberLabelGuard(); });
afterAll(async () => { await restoreGuard(); });

describe('tenant-isolation render', () => {
  it('prints exactly what the operator applies: applied first, it leaves the operator nothing to write', async () => {
    const t = unique('t-render');
    const [a, b] = [unique('render-a'), unique('render-b')];
    await createNamespace(a, { tenant: t });
    await createNamespace(b, { tenant: t });
    await applyTenant(t, {
      namespaceSelector: { matchLabels: { tenant: t } },
      allow: { egressTo: [{ ipBlock: { cidr: '203.0.113.0/24' }, ports: [{ protocol: 'TCP', port: 443 }] }] },
    });
    // No operator runs yet: export what a GitOps repo would hold, render, apply as the operator would.
    const dir = tmp.make('tio-render-');
    writeFileSync(join(dir, 'objects.yaml'), await kubectl('get', `tenantisolation/${t}`, `namespace/${a}`, `namespace/${b}`, '-o', 'yaml'));
    const rendered = await cli('render', join(dir, 'objects.yaml'));
    expect(rendered.code).toBe(0);
    const { stdout } = rendered;
    writeFileSync(join(dir, 'policies.yaml'), stdout);
    await kubectl('apply', '--server-side', '--field-manager=tenant-isolation-operator', '-f', join(dir, 'policies.yaml'));
    expect(await policyNames(a)).toEqual(['tenant-isolation-allow-dns', 'tenant-isolation-allow-extra', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-default-deny']);

    // Other files' tenants share the cluster, so the check is on this tenant's objects: the operator, once
    // settled, has not changed a single resourceVersion of the policies `render` printed.
    const versions = async () => kubectl('get', 'networkpolicies', '-A', '-o',
      'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}')
      .then((out) => out.split('\n').filter((l) => l.startsWith(`${a}/`) || l.startsWith(`${b}/`)).sort());
    const before = await versions();
    expect(before).toHaveLength(8);
    const op = await startTestOperator();
    try {
      await eventually(async () => (await getTenant(t))?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 'Ready');
      await op.manager.idle();
      expect(await versions()).toEqual(before);
    } finally { await op.stop(); }
  });

  it('with a profile and the baseline too: the effective specs and the baseline\'s policies, applied first, leave the operator nothing to write', async () => {
    const [t, p, run] = [unique('t-rprof'), unique('p-render'), unique('run')];
    const [a, loose] = [unique('rprof-a'), unique('rprof-loose')];
    const API = '/apis/isolation.tenancy.dev/v1alpha1';
    const r = await rest();
    await createNamespace(a, { tenant: t, 'render-test': run });
    await createNamespace(loose, { 'render-test': run });
    await r.apply(`${API}/isolationprofiles/${p}`, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationProfile', metadata: { name: p },
      spec: { allow: { egressTo: [{ name: 'api', ipBlock: { cidr: '203.0.113.0/24' }, ports: [{ protocol: 'TCP', port: 443 }] }] } } }, 'tests', true);
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, profile: p });
    // Only this test's namespaces are the baseline's (every other one is exempt by the selector).
    await r.apply(`${API}/isolationbaselines/cluster`, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationBaseline', metadata: { name: 'cluster' },
      spec: { mode: 'Enforce', exempt: { namespaceSelector: { matchExpressions: [{ key: 'render-test', operator: 'NotIn', values: [run] }] } } } }, 'tests', true);
    try {
      const dir = tmp.make('tio-render-prof-');
      writeFileSync(join(dir, 'objects.yaml'), await kubectl('get', `tenantisolation/${t}`, `isolationprofile/${p}`, 'isolationbaseline/cluster', `namespace/${a}`, `namespace/${loose}`, '-o', 'yaml'));
      const rendered = await cli('render', join(dir, 'objects.yaml'));
      expect(rendered.code, rendered.stderr).toBe(0);
      writeFileSync(join(dir, 'policies.yaml'), rendered.stdout);
      await kubectl('apply', '--server-side', '--field-manager=tenant-isolation-operator', '-f', join(dir, 'policies.yaml'));
      expect(await policyNames(a)).toEqual(['tenant-isolation-allow-dns', 'tenant-isolation-allow-extra', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-default-deny']);
      expect(await policyNames(loose)).toEqual(['tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace', 'tenant-isolation-baseline-deny']);
      // The check is on this test's objects: once settled, the operator has changed none of them.
      const versions = async () => (await Promise.all([a, loose].map(policies))).flat().map((x) => `${x.metadata.namespace}/${x.metadata.name}@${x.metadata.resourceVersion}`);
      const before = await versions();
      expect(before).toHaveLength(7);
      const op = await startTestOperator();
      try {
        await eventually(async () => (await getTenant(t))?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True', 'Ready');
        await eventually(async () => (await r.get<{ status?: { conditions?: { reason: string }[] } }>(`${API}/isolationbaselines/cluster`)).status?.conditions?.[0]?.reason === 'Isolated', 'the baseline Ready');
        await op.manager.idle();
        expect(await versions()).toEqual(before);
      } finally { await op.stop(); }
    } finally {
      await r.delete(`${API}/isolationbaselines/cluster`);
    }
  });

  it('names the file and line of malformed YAML and of kinds it does not read, and exits non-zero', async () => {
    const dir = tmp.make('tio-render-bad-');
    writeFileSync(join(dir, 'bad.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n');
    const kindErr = await cli('render', join(dir, 'bad.yaml'));
    expect(kindErr?.code).toBe(1);
    expect(kindErr?.stderr).toContain(`${join(dir, 'bad.yaml')}:6: unsupported kind v1/ConfigMap`);
    writeFileSync(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [a\n  labels: {}\n');
    const yamlErr = await cli('render', join(dir, 'broken.yaml'));
    expect(yamlErr?.code).toBe(1);
    expect(yamlErr?.stderr).toMatch(new RegExp(`${join(dir, 'broken.yaml').replaceAll('/', '\\/')}:\\d+: malformed YAML`));
    writeFileSync(join(dir, 'invalid.yaml'), 'apiVersion: isolation.tenancy.dev/v1alpha1\nkind: TenantIsolation\nmetadata: {name: x}\nspec: {mode: Sometimes, namespaces: [a]}\n');
    const specErr = await cli('render', join(dir, 'invalid.yaml'));
    expect(specErr?.stderr).toContain('invalid.yaml:1: TenantIsolation x is invalid: spec.mode');
    expect(await cli('render', join(repo, 'config/samples')).then((r) => r.stdout)).toContain('tenant-isolation-allow-intra-tenant');
  });
});
