// `verify diff` and `verify explain` with the live cluster as a source: a pull request's manifests
// compared with what runs, and one connection of the cluster explained.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { cli } from '../harness/run.ts';
import { MANAGED_POLICIES, applyTenant, createNamespace, isolatedWith, kubeconfig, kubectl, rest, startTestOperator, unique } from '../harness/cluster.ts';

const tmp = tempDirs();
const t = unique('t-vc');
const member = unique('vc-member');
const outsider = unique('vc-outsider');

const pod = (ns: string, name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.example/x:1', ports: [{ name: 'http', containerPort: 8080 }] }] } });

beforeAll(async () => {
  await createNamespace(member, { tenant: t });
  await createNamespace(outsider);
  await (await rest()).create(`/api/v1/namespaces/${member}/pods`, pod(member, 'app'), 'tests');
  await (await rest()).create(`/api/v1/namespaces/${outsider}/pods`, pod(outsider, 'client'), 'tests');
  const op = await startTestOperator();
  try {
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(member, MANAGED_POLICIES);
  } finally { await op.stop(); }
});

describe('verify with the cluster as a source', () => {
  it('diff of the cluster against its own export plus a permissive policy: that policy\'s connections and breaches, exit 1', async () => {
    const dir = tmp.make('tio-vc-');
    const exported = join(dir, 'cluster.yaml');
    writeFileSync(exported, await kubectl('get', 'namespaces,pods,networkpolicies,tenantisolations,isolationprofiles,isolationbaselines', '-A', '-o', 'yaml'));
    const open = join(dir, 'open.yaml');
    writeFileSync(open, `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: open, namespace: ${member}}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{ports: [{port: 8080}]}]\n`);

    const r = await cli(['verify', 'diff', '--kubeconfig', kubeconfig(), '-f', `${exported},${open}`, '-t', t, '-o', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as { added: { podPairs: { from: string; to: string; ports: string }[]; tenantPairs: { to: string }[] }; breaches: { added: { tenant: string; policy: string; port: number }[] } };
    expect(d.added.podPairs).toContainEqual({ from: `${outsider}/client`, to: `${member}/app`, ports: 'TCP/8080' });
    expect(d.added.podPairs.every((p) => p.to === `${member}/app` && p.ports === 'TCP/8080')).toBe(true);
    expect(d.breaches.added.length).toBeGreaterThan(0);
    expect(d.breaches.added.every((b) => b.tenant === t && b.policy === `${member}/open` && b.port === 8080)).toBe(true);

    // The export alone changes nothing about the tenant.
    const same = await cli(['verify', 'diff', '--kubeconfig', kubeconfig(), '-f', exported, '-t', t, '-o', 'json']);
    expect(same.code).toBe(0);
    const s = JSON.parse(same.stdout) as { added: { podPairs: { to: string }[] }; breaches: { added: unknown[] } };
    expect(s.added.podPairs.filter((p) => p.to.startsWith(`${member}/`))).toEqual([]);
    expect(s.breaches.added).toEqual([]);
  });

  it('explain reads the cluster: the managed default deny isolates the tenant pod and nothing admits the outsider', async () => {
    const r = await cli(['verify', 'explain', `${outsider}/client`, `${member}/app`, '--port', '8080', '--kubeconfig', kubeconfig()]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`TCP/8080 from ${outsider}/client to ${member}/app: DENIED`);
    expect(r.stdout).toContain(`  tenants: (no tenant) -> ${t}`);
    expect(r.stdout).toMatch(new RegExp(`isolated by: .*${member}/tenant-isolation-default-deny`));
  });
});
