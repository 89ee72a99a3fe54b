// `verify diff` (what a change does to reachability; exit 1 when it adds a breach) and `verify explain`
// (why one connection is allowed or denied), run as a user runs them on the samples, without a cluster.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { withAddressesOf } from '../../src/cli/verify-diff.ts';
import type { Inputs } from '../../src/cli/verify-inputs.ts';
import { cli as run, repo } from '../harness/run.ts';

const tmp = tempDirs();
const cli = (...args: string[]) => run(args);
const samples = join(repo, 'config/samples');
const dir = tmp.make('tio-diff-');
const base = join(dir, 'policies.yaml');
const allowAll = join(dir, 'allow-all.yaml');
/** The samples with acme also declaring ingress from the ingress controller on 9090, and its rendering. */
const widened = join(dir, 'widened');
const widenedPolicies = join(dir, 'widened-policies.yaml');
/** The allow-all narrowed to TCP/8080, and the same allow-all under another name. */
const narrowed = join(dir, 'narrowed.yaml');
const renamed = join(dir, 'renamed.yaml');

beforeAll(async () => {
  writeFileSync(base, (await cli('render', samples)).stdout);
  writeFileSync(allowAll, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: globex-app}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n  ingress: [{}]\n');
  writeFileSync(narrowed, readFileSync(allowAll, 'utf8').replace('ingress: [{}]', 'ingress: [{ports: [{protocol: TCP, port: 8080}]}]'));
  writeFileSync(renamed, readFileSync(allowAll, 'utf8').replace('name: allow-all,', 'name: allow-everything,'));
  cpSync(samples, widened, { recursive: true });
  const acme = join(widened, 'isolation_v1alpha1_tenantisolation_acme.yaml');
  writeFileSync(acme, readFileSync(acme, 'utf8').replace('            port: 8080', '            port: 8080\n          - protocol: TCP\n            port: 9090'));
  writeFileSync(widenedPolicies, (await cli('render', widened)).stdout);
});

interface Diff {
  added: { tenantPairs: { from: string; to: string; podPairs: number }[]; podPairs: { from: string; to: string; ports: string }[] };
  removed: { tenantPairs: unknown[]; podPairs: { from: string; to: string; ports: string }[] };
  breaches: { added: { tenant: string; policy: string | null; peer: string }[]; removed: { tenant: string }[] };
}

// Each test spawns the CLI (a Node.js process start and a compile): seconds on a loaded 2-core machine.
describe('verify diff', { timeout: 60_000 }, () => {
  it('a tenant-written allow-all adds connections per tenant and pod pair, adds breaches, and exits 1', async () => {
    const r = await cli('verify', 'diff', '-f', `${samples},${base}`, '-f', `${samples},${base},${allowAll}`, '-o', 'json');
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as Diff;
    expect(d.added.podPairs).toEqual([{ from: 'shared-services/ingress', to: 'globex-app/app', ports: 'TCP/any, UDP/any, SCTP/any' }]);
    expect(d.added.tenantPairs).toEqual([{ from: '(no tenant)', to: 'globex', podPairs: 1 }]);
    expect(d.removed).toEqual({ tenantPairs: [], podPairs: [] });
    expect(d.breaches.added.length).toBeGreaterThan(0);
    expect(d.breaches.added.every((b) => b.tenant === 'globex' && b.policy === 'globex-app/allow-all')).toBe(true);
    expect(d.breaches.removed).toEqual([]);
  });

  it('the reverse change removes them and exits 0; the text names both sides', async () => {
    const r = await cli('verify', 'diff', '-f', `${samples},${base},${allowAll}`, '-f', `${samples},${base}`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Connections added: none.');
    expect(r.stdout).toMatch(/Connections removed \(1 pod pair\):\n {2}by tenant pair:\n {4}\(no tenant\) -> globex: 1 pod pair\n {2}by pod pair:\n {4}shared-services\/ingress -> globex-app\/app: TCP\/any, UDP\/any, SCTP\/any/);
    expect(r.stdout).toContain('Breaches added: none.');
    expect(r.stdout).toMatch(/Breaches removed \(\d+\):\n {2}\[globex\] ingress/);
  });

  it('a change that only narrows a breach, or renames the policy admitting it, adds no breach: exit 0', async () => {
    const narrowing = await cli('verify', 'diff', '-f', `${samples},${base},${allowAll}`, '-f', `${samples},${base},${narrowed}`, '-o', 'json');
    expect(narrowing.code).toBe(0);
    const n = JSON.parse(narrowing.stdout) as Diff;
    expect(n.added.podPairs).toEqual([]);
    expect(n.breaches.added).toEqual([]);
    expect(n.breaches.removed.length).toBeGreaterThan(0); // the ports it no longer exposes
    const renaming = await cli('verify', 'diff', '-f', `${samples},${base},${allowAll}`, '-f', `${samples},${base},${renamed}`, '-o', 'json');
    expect(renaming.code).toBe(0);
    expect((JSON.parse(renaming.stdout) as Diff).breaches).toEqual({ added: [], removed: [] });
    // And the reverse of the narrowing widens it again: a breach added, exit 1.
    const widening = await cli('verify', 'diff', '-f', `${samples},${base},${narrowed}`, '-f', `${samples},${base},${allowAll}`, '-o', 'json');
    expect(widening.code).toBe(1);
    expect((JSON.parse(widening.stdout) as Diff).breaches.added.length).toBeGreaterThan(0);
  });

  it('a declared widening adds exactly the new port and no breach: exit 0', async () => {
    const r = await cli('verify', 'diff', '-f', `${samples},${base}`, '-f', `${widened},${widenedPolicies}`, '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as Diff;
    expect(d.added.podPairs).toEqual([
      { from: 'shared-services/ingress', to: 'acme-billing/billing', ports: 'TCP/9090' },
      { from: 'shared-services/ingress', to: 'acme-web/web', ports: 'TCP/9090' },
    ]);
    expect(d.added.tenantPairs).toEqual([{ from: '(no tenant)', to: 'acme', podPairs: 2 }]);
    expect(d.breaches).toEqual({ added: [], removed: [] });
  });

  it('widening an undeclared ipBlock adds a breach at an outside address the narrower one left out: exit 1', async () => {
    const out = (cidr: string): string => {
      const f = join(dir, `out-${cidr.replace(/\W/g, '-')}.yaml`);
      writeFileSync(f, `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: out, namespace: globex-app}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: {cidr: ${cidr}}}], ports: [{port: 443}]}]\n`);
      return f;
    };
    const r = await cli('verify', 'diff', '-f', `${samples},${base},${out('10.0.0.0/32')}`, '-f', `${samples},${base},${out('10.0.0.0/8')}`, '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const d = JSON.parse(r.stdout) as Diff;
    expect(d.breaches.added).toEqual([expect.objectContaining({ tenant: 'globex', peer: 'external 10.0.0.1', policy: 'globex-app/out' })]);
    expect(d.breaches.removed).toEqual([]);
  });

  it('no change: nothing added or removed, exit 0', async () => {
    const r = await cli('verify', 'diff', '-f', `${samples},${base}`, '-f', `${samples},${base}`);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(1, 5)).toEqual(['Connections added: none.', 'Connections removed: none.', 'Breaches added: none.', 'Breaches removed: none.']);
  });

  it('an OLD side that holds nothing yet (a first pull request) is compared with, not refused', async () => {
    const empty = tmp.make('tio-diff-empty-');
    const r = await cli('verify', 'diff', '-f', empty, '-f', `${samples},${base},${allowAll}`, '-o', 'json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1); // NEW's breaches are all added
    expect((JSON.parse(r.stdout) as Diff).breaches.added.length).toBeGreaterThan(0);
    // NEW must still hold something: an empty NEW proves nothing.
    expect((await cli('verify', 'diff', '-f', samples, '-f', empty)).code).toBe(2);
  });

  it('bad input exits 2 naming the flag', async () => {
    expect(await cli('verify', 'diff', '-f', samples, '-f', samples, '-f', samples)).toMatchObject({ code: 2, stderr: expect.stringContaining('-f: give -f OLD -f NEW') as unknown });
    expect(await cli('verify', 'diff', '-f', samples, '-f', `${samples},${join(dir, 'missing.yaml')}`)).toMatchObject({ code: 2, stderr: expect.stringContaining('missing.yaml: no such file or directory') as unknown });
    expect(await cli('verify', 'diff', '-f', samples, '-f', samples, '-t', 'nobody')).toMatchObject({ code: 2, stderr: expect.stringContaining('--tenant: no TenantIsolation named nobody') as unknown });
  });
});

interface Explanation {
  allowed: boolean;
  tenants: { from: string; to: string };
  egress: { allowed: boolean; isolated: boolean; isolatingPolicies: string[]; rules: { policy: string; rule: number; admits: boolean; ports: string }[] };
  ingress: { allowed: boolean; isolated: boolean; isolatingPolicies: string[]; rules: { policy: string; rule: number; admits: boolean; ports: string }[] };
}
const ACME_WEB_POLICIES = ['acme-web/tenant-isolation-allow-extra', 'acme-web/tenant-isolation-allow-intra-tenant', 'acme-web/tenant-isolation-default-deny'];

describe('verify diff against the cluster', () => {
  it('gives NEW\'s pods without an IP the addresses the cluster has for them, and no others', () => {
    const pod = (name: string, ips: string[]) => ({ namespace: 'a', name, labels: {}, ips, containerPorts: [] });
    const inputs = (pods: ReturnType<typeof pod>[]): Inputs => ({ snapshot: { namespaces: [], pods, policies: [], podsWithoutIpAnywhere: true }, tenants: [], membership: new Map(), skipped: [] });
    const cluster = inputs([pod('web', ['10.0.0.5']), pod('pending', [])]);
    const next = withAddressesOf(cluster, inputs([pod('web', []), pod('pending', []), pod('new', []), pod('moved', ['10.0.0.9'])]));
    expect(next.snapshot.pods.map((p) => [p.name, p.ips])).toEqual([['web', ['10.0.0.5']], ['pending', []], ['new', []], ['moved', ['10.0.0.9']]]);
  });
});

describe('verify explain', { timeout: 60_000 }, () => {
  it('an allowed connection: every policy isolating each side and the rule that admits it, exit 0', async () => {
    const r = await cli('verify', 'explain', 'shared-services/ingress', 'acme-web/web', '--port', '8080', '-f', samples, '-f', base, '-o', 'json');
    expect(r.code).toBe(0);
    const e = JSON.parse(r.stdout) as Explanation;
    expect(e.allowed).toBe(true);
    expect(e.tenants).toEqual({ from: '(no tenant)', to: 'acme' });
    expect(e.egress).toMatchObject({ allowed: true, isolated: false, isolatingPolicies: [], rules: [] });
    expect(e.ingress.isolatingPolicies).toEqual(ACME_WEB_POLICIES);
    expect(e.ingress.rules).toEqual([{ policy: 'acme-web/tenant-isolation-allow-extra', rule: 0, peers: 'matching', ports: 'TCP/8080', admits: true }]);
  });

  it('on another port the same rule would admit it: denied, exit 1, and the text says which rule and port', async () => {
    const r = await cli('verify', 'explain', 'shared-services/ingress', 'acme-web/web', '--port', '9090', '-f', samples, '-f', base);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('TCP/9090 from shared-services/ingress to acme-web/web: DENIED');
    expect(r.stdout).toContain(`  isolated by: ${ACME_WEB_POLICIES.join(', ')}`);
    expect(r.stdout).toContain('would admit  acme-web/tenant-isolation-allow-extra ingress rule 0 (peer matches; TCP/8080)');
  });

  it('across tenants: both sides isolated, no rule admits the other end on the port', async () => {
    const r = await cli('verify', 'explain', 'globex-app/app', 'acme-web/web', '--port', '8080', '-f', samples, '-f', base, '-o', 'json');
    expect(r.code).toBe(1);
    const e = JSON.parse(r.stdout) as Explanation;
    expect(e.tenants).toEqual({ from: 'globex', to: 'acme' });
    // acme-web/web has no IP in the samples: it may be inside globex's declared 203.0.113.0/24, on 443 only.
    expect(e.egress).toMatchObject({ allowed: false, isolated: true, rules: [{ policy: 'globex-app/tenant-isolation-allow-extra', rule: 0, peers: 'matching', ports: 'TCP/443', admits: false }] });
    expect(e.egress.isolatingPolicies).toContain('globex-app/tenant-isolation-default-deny');
    expect(e.ingress).toMatchObject({ allowed: false, isolated: true, rules: [] });
  });

  it('to an address outside the cluster: the declared egress admits 203.0.113.0/24 on 443 only', async () => {
    const ok = await cli('verify', 'explain', 'globex-app/app', '203.0.113.5', '--port', '443', '-f', samples, '-f', base, '-o', 'json');
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Explanation).egress.rules).toEqual([{ policy: 'globex-app/tenant-isolation-allow-extra', rule: 0, peers: 'matching', ports: 'TCP/443', admits: true }]);
    expect((await cli('verify', 'explain', 'globex-app/app', '8.8.8.8', '--port', '443', '-f', samples, '-f', base)).code).toBe(1);
  });

  it('a tenant-written allow-all shows up as the admitting rule for any peer', async () => {
    const r = await cli('verify', 'explain', 'shared-services/ingress', 'globex-app/app', '--port', '22', '-f', samples, '-f', base, '-f', allowAll, '-o', 'json');
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Explanation).ingress.rules).toEqual([{ policy: 'globex-app/allow-all', rule: 0, peers: 'any', ports: 'TCP/any, UDP/any, SCTP/any', admits: true }]);
  });

  it('bad input exits 2 naming what is wrong', async () => {
    expect(await cli('verify', 'explain', 'acme-web/nope', 'acme-web/web', '--port', '80', '-f', samples)).toMatchObject({ code: 2, stderr: expect.stringContaining('SRC: no pod acme-web/nope') as unknown });
    expect(await cli('verify', 'explain', 'acme-web/web', 'billing', '--port', '80', '-f', samples)).toMatchObject({ code: 2, stderr: expect.stringContaining("DST: must be namespace/pod or an IP address, not 'billing'") as unknown });
    expect(await cli('verify', 'explain', 'acme-web/web', 'acme-billing/billing', '-f', samples)).toMatchObject({ code: 2, stderr: expect.stringContaining('--port: required') as unknown });
    expect(await cli('verify', 'explain', 'acme-web/web', '--port', '80', '-f', samples)).toMatchObject({ code: 2, stderr: expect.stringContaining('needs SRC and DST') as unknown });
  });
});

// The README's example is a contract with its reader: it is run here exactly as written there.
describe('the README\'s verify diff example', { timeout: 60_000 }, () => {
  it('prints exactly the output and exit status the README shows', async () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    const policy = /```yaml\n# globex-ingress\.yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    const session = /```console\n\$ tenant-isolation (verify diff [^\n]*)\n([\s\S]*?)\$ echo \$\?\n(\d+)\n```/.exec(readme);
    expect(policy, 'README: the globex-ingress.yaml block').toBeDefined();
    expect(session, 'README: the verify diff console block').not.toBeNull();
    const cwd = tmp.make('tio-readme-');
    cpSync(samples, join(cwd, 'config/samples'), { recursive: true });
    writeFileSync(join(cwd, 'policies.yaml'), (await cli('render', samples)).stdout);
    writeFileSync(join(cwd, 'globex-ingress.yaml'), policy!);
    const r = await run(session![1]!.split(' '), { cwd });
    expect(r.stdout).toBe(session![2]);
    expect(String(r.code)).toBe(session![3]);
  });
});
