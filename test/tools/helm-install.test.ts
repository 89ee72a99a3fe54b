// The chart with the real helm against the real apiserver: the rendering is accepted by a server-side
// dry run, install creates what config/default would, the operator isolates the samples with exactly the
// RBAC the chart grants, upgrade changes the Deployment, uninstall removes the operator and keeps the CRD,
// the tenants and their policies (docs/install.md says why). The chart's objects are cluster-scoped and
// would clash with the shared test cluster's copies of config/rbac, so this file starts its own cluster.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, NAMESPACE, RELEASE, helm } from '../harness/chart.ts';
import { repo } from '../harness/run.ts';
import { tempDirs } from '../harness/tmp.ts';
import { kubectlPath, tool } from '../harness/tools.ts';
import { runFlags } from '../../src/cli/flags.ts';
import { startOperator } from '../../src/cli/run.ts';

const tmp = tempDirs();
let clusterDir: string;
let kubeconfig: string;
let ok = false;

const kubectl = async (...args: string[]): Promise<string> => (await promisify(execFile)(kubectlPath(), ['--kubeconfig', kubeconfig, ...args])).stdout;
const h = (...args: string[]): string => helm([...args, '--kubeconfig', kubeconfig]);
const json = async <T>(...args: string[]): Promise<T> => JSON.parse(await kubectl('get', ...args, '-o', 'json')) as T;
const exists = async (...args: string[]): Promise<boolean> => (await kubectl('get', ...args, '--ignore-not-found', '-o', 'name')).trim() !== '';

beforeAll(() => {
  tool('helm');
  clusterDir = mkdtempSync(join(tmpdir(), 'tio-helm-cluster-'));
  kubeconfig = execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'up', '--dir', clusterDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
}, 30 * 60_000);
afterAll(() => {
  execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'down', '--dir', clusterDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  // Kept, with the control plane's logs, only when something failed.
  if (ok) rmSync(clusterDir, { recursive: true, force: true }); else console.error(`[helm-install] control-plane logs kept in ${clusterDir}`);
});

interface Deployment { spec: { replicas: number; template: { spec: { containers: { args: string[]; env: { name: string; value?: string }[] }[] } } } }

describe('helm and the real apiserver', () => {
  it('helm template is accepted by a server-side dry run, default and changed values alike', async () => {
    await kubectl('create', 'namespace', 'dry-run');
    for (const set of [[], ['replicas=3', 'metrics.secure=false', 'networkPolicy.apiServer.cidrs[0]=10.0.0.1/32', 'podDisruptionBudget.enabled=false']]) {
      const file = join(tmp.make('tio-helm-tpl-'), 'rendered.yaml');
      writeFileSync(file, helm(['template', RELEASE, CHART, '--namespace', 'dry-run', '--include-crds', ...set.flatMap((s) => ['--set', s])]));
      const out = await kubectl('apply', '--dry-run=server', '-f', file);
      expect(out).toContain('deployment.apps/tenant-isolation-operator created (server dry run)');
      expect(out).toContain('customresourcedefinition.apiextensions.k8s.io/tenantisolations.isolation.tenancy.dev created (server dry run)');
    }
    // And the server does refuse what is wrong: the dry run is not a rubber stamp.
    const bad = join(tmp.make('tio-helm-bad-'), 'bad.yaml');
    writeFileSync(bad, helm(['template', RELEASE, CHART, '--namespace', 'dry-run', '--set', 'resources.limits.memory=lots']));
    await expect(kubectl('apply', '--dry-run=server', '-f', bad)).rejects.toThrow(/quantities must match the regular expression/);
  });

  it('helm install creates the operator; it isolates the samples with only the RBAC the chart grants', async () => {
    const out = h('install', RELEASE, CHART, '--namespace', NAMESPACE, '--create-namespace');
    expect(out).toContain('STATUS: deployed');
    expect((await json<Deployment>('deployment', 'tenant-isolation-operator', '-n', NAMESPACE)).spec.replicas).toBe(2);
    expect(await exists('crd', 'tenantisolations.isolation.tenancy.dev')).toBe(true);
    expect(await exists('networkpolicy', 'tenant-isolation-operator', '-n', NAMESPACE)).toBe(true);
    await kubectl('wait', '--for', 'condition=Established', 'crd/tenantisolations.isolation.tenancy.dev', 'crd/isolationprofiles.isolation.tenancy.dev', 'crd/isolationbaselines.isolation.tenancy.dev', '--timeout=60s');

    // No kubelet runs the Deployment here: run the operator in this process as the chart's ServiceAccount.
    const token = (await kubectl('create', 'token', 'tenant-isolation-operator', '-n', NAMESPACE, '--duration=1h')).trim();
    const admin = JSON.parse(await kubectl('config', 'view', '--raw', '--minify', '-o', 'json')) as { clusters: { cluster: Record<string, string> }[] };
    const saConfig = join(tmp.make('tio-helm-sa-'), 'kubeconfig');
    writeFileSync(saConfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'sa',
      clusters: [{ name: 'c', cluster: { server: admin.clusters[0]!.cluster.server, 'certificate-authority-data': admin.clusters[0]!.cluster['certificate-authority-data'] } }],
      users: [{ name: 'sa', user: { token } }], contexts: [{ name: 'sa', context: { cluster: 'c', user: 'sa' } }],
    }));
    const op = await startOperator(runFlags.parse({ kubeconfig: saConfig, 'metrics-bind-address': '0', 'health-probe-bind-address': '0', 'leader-elect': true, 'leader-election-namespace': NAMESPACE }), pino({ level: 'silent' }), { processMetrics: false });
    try {
      await op.leading;
      await kubectl('apply', '-k', join(repo, 'config/samples'));
      await kubectl('wait', '--for', 'condition=Ready', 'tenantisolation/acme', 'tenantisolation/globex', '--timeout=30s');
      const names = (await kubectl('get', 'networkpolicies', '-n', 'acme-web', '-o', 'jsonpath={.items[*].metadata.name}')).split(' ').sort();
      expect(names).toEqual(['tenant-isolation-allow-dns', 'tenant-isolation-allow-extra', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-default-deny']);
    } finally { await op.stop(); }
  });

  it('helm upgrade applies changed values to the Deployment', async () => {
    const out = h('upgrade', RELEASE, CHART, '--namespace', NAMESPACE, '--set', 'replicas=3', '--set', 'logLevel=debug', '--set', 'nodeOptions=--max-old-space-size=768');
    expect(out).toContain('REVISION: 2');
    const d = await json<Deployment>('deployment', 'tenant-isolation-operator', '-n', NAMESPACE);
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.template.spec.containers[0]!.args).toContain('--log-level=debug');
    expect(d.spec.template.spec.containers[0]!.env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=768');
  });

  it('helm uninstall removes the operator and its RBAC, and keeps the CRD, the tenants and their policies', async () => {
    h('uninstall', RELEASE, '--namespace', NAMESPACE, '--wait');
    expect(await exists('deployment', 'tenant-isolation-operator', '-n', NAMESPACE)).toBe(false);
    expect(await exists('clusterrole', 'tenant-isolation-operator')).toBe(false);
    expect(await exists('serviceaccount', 'tenant-isolation-operator', '-n', NAMESPACE)).toBe(false);
    expect(await exists('crd', 'tenantisolations.isolation.tenancy.dev')).toBe(true);
    expect(await exists('tenantisolation', 'acme')).toBe(true);
    expect(await exists('networkpolicy', 'tenant-isolation-default-deny', '-n', 'acme-web')).toBe(true);
    ok = true;
  });
});
