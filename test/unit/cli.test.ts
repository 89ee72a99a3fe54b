// The command-line tools on manifests only (no cluster): render feeds verify, a CI gate without a cluster.
import { execFile } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
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

  it('objects the apiserver would refuse exit 2 naming the file, line and field, never a crash or a pass', async () => {
    const np = (spec: string) => `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: n}\n${spec}`;
    for (const [text, message] of [
      [np('spec:\n  podSelector: {}\n  ingress: 5\n'), ':1: networking.k8s.io/v1/NetworkPolicy n/p: spec.ingress: '],
      [np(''), ':1: networking.k8s.io/v1/NetworkPolicy n/p: spec: '],
      [np('spec:\n  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: notacidr}}]}]\n'), 'spec.ingress[0].from[0].ipBlock.cidr: must be a CIDR'],
      [np('spec:\n  podSelector: {matchExpressions: [{key: a, operator: Bogus}]}\n'), 'spec.podSelector.matchExpressions[0].operator: '],
      [np('spec:\n  podSelector: {}\n  ingress: [{ports: [{port: 99999}]}]\n'), 'spec.ingress[0].ports[0].port: '],
      [np('spec:\n  podSelector: {}\n  egress: [{ports: [{protocol: UDP, port: "53"}]}]\n'), 'spec.egress[0].ports[0].port: must be 1-65535 or a port name'],
      [np('spec:\n  podSelector: {}\n  egress: [{to: [{}]}]\n'), 'spec.egress[0].to[0]: must specify a peer'],
      ['apiVersion: v1\nkind: Pod\nmetadata: {name: x, namespace: n, labels: [1, 2]}\n', 'v1/Pod n/x: metadata.labels: '],
      ['apiVersion: v1\nkind: List\nitems: [null]\n', ':1: List items[0]: expected a Kubernetes object'],
    ] as const) {
      const f = join(dir, 'shape.yaml');
      writeFileSync(f, text);
      const r = await cli('verify', '-f', f);
      expect(r.code, text).toBe(2);
      expect(r.stderr, text).toContain(message);
    }
  });

  it('refuses to prove nothing, duplicates, and a cluster left out: exit 2', async () => {
    const empty = tmp.make('tio-cli-empty-');
    writeFileSync(join(empty, 'README.md'), 'not a manifest');
    const none = await cli('verify', '-f', empty);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no Kubernetes objects found');
    const comments = join(dir, 'comments.yaml');
    writeFileSync(comments, '# nothing here\n---\n');
    expect((await cli('verify', '-f', comments)).code).toBe(2);
    // The same NetworkPolicy twice: one file would decide in verify, the other in explain.
    const twice = join(dir, 'twice.yaml');
    writeFileSync(twice, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: globex-app}\nspec: {podSelector: {}}\n');
    const dup = await cli('verify', '-f', join(repo, 'config/samples'), '-f', twice, '-f', twice);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toContain(`${twice}:1: networking.k8s.io/v1/NetworkPolicy globex-app/allow-all is also defined at ${twice}:1`);
    const both = await cli('verify', '--kubeconfig', join(dir, 'nowhere'), '-f', join(repo, 'config/samples'));
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--kubeconfig: not used with -f');
  });
});

// The GitOps path of docs/fleet.md: profiles, the baseline and tenants in Git; CI runs render and
// verify -f on them and the exit status gates the merge.
describe('a fleet kept in Git (config/samples/fleet): render and verify -f gate the merge', { timeout: 60_000 }, () => {
  const fleet = join(repo, 'config/samples/fleet');
  const dir = tmp.make('tio-fleet-');
  const gate = async (src: string): Promise<{ code: number; out: { breaches: { tenant: string; policy: string | null }[]; baseline?: { mode: string; namespaces: string[]; missing: string[]; unselectedPods: string[] } } }> => {
    const rendered = await cli('render', src);
    expect(rendered.code, rendered.stderr).toBe(0);
    writeFileSync(join(dir, 'rendered.yaml'), rendered.stdout);
    const r = await cli('verify', '-f', src, '-f', join(dir, 'rendered.yaml'), '-o', 'json');
    return { code: r.code, out: JSON.parse(r.stdout) as never };
  };
  const copy = (name: string, edit: (file: string, text: string) => string): string => {
    const to = join(dir, name);
    cpSync(fleet, to, { recursive: true });
    for (const f of readdirSync(to)) writeFileSync(join(to, f), edit(f, readFileSync(join(to, f), 'utf8')));
    return to;
  };

  it('passes as shipped: profiles applied, no breach, the Audit baseline naming what it would isolate', async () => {
    const { code, out } = await gate(fleet);
    expect(code).toBe(0);
    expect(out.breaches).toEqual([]);
    expect(out.baseline).toEqual({ mode: 'Audit', namespaces: ['fleet-sandbox'], missing: [], unselectedPods: ['fleet-sandbox/notebook'] });
    // The inherited monitoring allow reaches shop and payments; analytics excluded it.
    const policies = (await cli('render', fleet)).stdout;
    expect(policies).toMatch(/name: tenant-isolation-allow-extra\n\s+namespace: fleet-shop-web/);
    expect(policies).not.toMatch(/name: tenant-isolation-allow-extra\n\s+namespace: fleet-analytics/);
    expect(policies).toContain('cidr: 169.254.20.10/32');
  });

  it('with the baseline in Enforce, render writes its policies and verify finds none missing', async () => {
    const src = copy('enforce', (f, t) => (f === 'baseline.yaml' ? t.replace('mode: Audit', 'mode: Enforce') : t));
    const { code, out } = await gate(src);
    expect(code).toBe(0);
    expect(out.baseline).toEqual({ mode: 'Enforce', namespaces: ['fleet-sandbox'], missing: [], unselectedPods: [] });
  });

  it('fails (exit 1) when a change opens an undeclared path, and names the policy', async () => {
    const src = copy('breach', (f, t) => (f === 'pods.yaml' ? `${t}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: fleet-payments}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{}]\n` : t));
    const { code, out } = await gate(src);
    expect(code).toBe(1);
    expect(out.breaches.length).toBeGreaterThan(0);
    expect(out.breaches.every((b) => b.tenant === 'payments' && b.policy === 'fleet-payments/allow-all')).toBe(true);
  });

  it('fails (exit 1, naming the profile) when a tenant names a profile that is not in Git', async () => {
    const src = copy('missing', (f, t) => (f === 'tenants.yaml' ? t.replace('profile: pci', 'profile: pci-v2') : t));
    const r = await cli('render', src);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('TenantIsolation payments is invalid: spec.profile: IsolationProfile pci-v2 does not exist');
  });
});

describe('the command as a process', { timeout: 60_000 }, () => {
  it('run exits 1 when it cannot start, although a listener is already open', async () => {
    const dir = tmp.make('tio-cli-run-');
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: 'http://127.0.0.1:1' } }], users: [{ name: 'u', user: {} }], contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }));
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as AddressInfo).port;
      // The metrics listener opens first, then the health one fails on the taken port.
      // Killed after 20 s if it hangs (the old behaviour: up with a metrics listener and nothing else).
      const r = await run(['run', '--kubeconfig', kubeconfig, '--metrics-bind-address', '127.0.0.1:0', '--metrics-secure=false', '--health-probe-bind-address', `127.0.0.1:${port}`], { timeoutMs: 20_000 });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('address already in use');
    } finally {
      taken.close();
    }
  });

  it('a reader that goes away ends the output; the exit status is still the verdict', async () => {
    const args = ['verify', '-f', join(repo, 'config/samples'), '-o', 'html'];
    const whole = await cli(...args);
    // `true` has exited long before the command writes (a Node start): its write meets EPIPE.
    const cmd = `"${process.execPath}" "${join(repo, 'src/cli/main.ts')}" ${args.map((a) => `"${a}"`).join(' ')} | true; echo "rc=\${PIPESTATUS[0]}"`;
    const piped = await promisify(execFile)('bash', ['-c', cmd]);
    expect(piped.stdout.trim()).toBe(`rc=${whole.code}`);
    expect(piped.stderr).not.toContain('EPIPE');
  });
});
