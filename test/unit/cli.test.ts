// The command-line tools on manifests only (no cluster): render feeds verify, a CI gate without a cluster.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { cli as run, repo } from '../harness/run.ts';

const tmp = tempDirs();

const cli = (...args: string[]) => run(args);

// Each test starts Node processes: seconds on a loaded machine, far over vitest's 5 s default.
describe('render | verify on the samples', { timeout: 60_000 }, () => {
  const dir = tmp.make('tio-cli-');
  const policies = join(dir, 'policies.yaml');

  it('render prints the four kinds of managed policy for the sample tenants', async () => {
    const r = await cli('render', join(repo, 'config/samples'));
    expect(r.code).toBe(0);
    writeFileSync(policies, r.stdout);
    for (const n of ['tenant-isolation-default-deny', 'tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-allow-extra']) expect(r.stdout).toContain(`name: ${n}`);
    expect(r.stderr).toContain('no metadata.uid');
  });

  it('verify proves the rendered policies isolate both tenants: a matrix, no breach, exit 0', async () => {
    const r = await cli('verify', '-f', join(repo, 'config/samples'), '-f', policies, '--port', '8080');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/from \\ to\s+acme\s+globex\s+\(no tenant\)/);
    expect(r.stdout).toMatch(/^acme\s+2\s+0\s+0$/m); // acme-web <-> acme-billing
    expect(r.stdout).toMatch(/^\(no tenant\)\s+2\s+0\s+0$/m); // the declared ingress from shared-services
    expect(r.stdout).toContain('Breaches: none');
  });

  it('verify --pods -o json prints exactly {pods, allowed} with every allowed ordered pair', async () => {
    const r = await cli('verify', '-f', join(repo, 'config/samples'), '-f', policies, '--pods', '--port', '8080', '--protocol', 'TCP', '-o', 'json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { pods: string[]; allowed: [string, string][] };
    expect(Object.keys(out)).toEqual(['pods', 'allowed']);
    expect(out.pods).toEqual(['acme-billing/billing', 'acme-web/web', 'globex-app/app', 'shared-services/ingress']);
    expect(out.allowed).toEqual([
      ['acme-billing/billing', 'acme-web/web'], ['acme-web/web', 'acme-billing/billing'],
      ['shared-services/ingress', 'acme-billing/billing'], ['shared-services/ingress', 'acme-web/web'],
    ]);
    // The same on a port nobody declared: only intra-tenant traffic remains.
    const other = JSON.parse((await cli('verify', '-f', join(repo, 'config/samples'), '-f', policies, '--pods', '--port', '9090', '-o', 'json')).stdout) as { allowed: unknown[] };
    expect(other.allowed).toEqual([['acme-billing/billing', 'acme-web/web'], ['acme-web/web', 'acme-billing/billing']]);
  });

  it('verify exits 1 and names the policy when a tenant-written policy opens a path', async () => {
    const breach = join(dir, 'breach.yaml');
    writeFileSync(breach, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: globex-app}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{}]\n');
    const r = await cli('verify', '-f', join(repo, 'config/samples'), '-f', policies, '-f', breach, '-o', 'json');
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { breaches: { tenant: string; policy: string | null; peer: string }[] };
    expect(out.breaches.length).toBeGreaterThan(0);
    expect(out.breaches.every((b) => b.tenant === 'globex' && b.policy === 'globex-app/allow-all')).toBe(true);
    expect((await cli('verify', '-f', join(repo, 'config/samples'), '-f', policies, '-f', breach, '--tenant', 'acme')).code).toBe(0);
  });

  it('bad input exits 2 with file and line', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n');
    const r = await cli('verify', '-f', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}:5: unsupported kind apps/v1/Deployment`);
    const y = join(dir, 'y.yaml');
    writeFileSync(y, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n');
    const ry = await cli('verify', '-f', y);
    expect(ry.code).toBe(2);
    expect(ry.stderr).toMatch(/y\.yaml:\d+: malformed YAML/);
  });
});
