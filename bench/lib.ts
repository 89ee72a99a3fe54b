// Shared benchmark plumbing: a control plane (reused via TIO_KUBECONFIG or started fresh), the operator
// as a child process, and the apiserver's own request counters.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadKubeConfig } from '../src/kube/config.ts';
import { RestClient } from '../src/kube/rest.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { pino } from 'pino';
import { MANAGED_SELECTOR } from '../src/policy/labels.ts';
import { load as loadYaml } from 'js-yaml';

export const repo = resolve(import.meta.dirname, '..');

export interface Cluster { kubeconfig: string; rest: RestClient; kubectl: string; stop(): void }

export async function cluster(): Promise<Cluster> {
  let kubeconfig = process.env.TIO_KUBECONFIG;
  let dir: string | undefined;
  if (!kubeconfig) {
    dir = mkdtempSync(join(tmpdir(), 'tio-bench-'));
    kubeconfig = execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'up', '--dir', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  }
  const bin = execFileSync('bash', [join(repo, 'hack/build-control-plane.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const kubectl = join(bin, 'kubectl');
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-f', join(repo, 'crds')], { stdio: 'ignore' });
  // The admission gate is part of the default install: benchmarks measure the operator as shipped.
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-k', join(repo, 'config/admission')], { stdio: 'ignore' });
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'wait', '--for', 'condition=Established', 'crd/tenantisolations.isolation.tenancy.dev', 'crd/isolationprofiles.isolation.tenancy.dev', 'crd/isolationbaselines.isolation.tenancy.dev'], { stdio: 'ignore' });
  const rest = await RestClient.create(loadKubeConfig(kubeconfig));
  return {
    kubeconfig, rest, kubectl,
    stop: () => {
      rest.close();
      // A cluster this run started is removed with its data (etcd's alone reaches 200 MB after the scale run).
      if (dir) { execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'down', '--dir', dir], { stdio: 'ignore' }); rmSync(dir, { recursive: true, force: true }); }
    },
  };
}

export interface OperatorProcess { proc: ChildProcess; metricsPort: number; stop(): Promise<void>; metrics(): Promise<string>; rssBytes(): number; peakRssBytes(): number }

export async function startOperatorProcess(kubeconfig: string, extra: string[] = [], o: { dist?: boolean; nodeOptions?: string[] } = {}): Promise<OperatorProcess> {
  const metricsPort = 20000 + Math.floor(Math.random() * 10000);
  const healthPort = metricsPort + 1;
  const entry = o.dist ? join(repo, 'dist/cli/main.js') : join(repo, 'src/cli/main.ts');
  const proc = spawn(process.execPath, [...(o.nodeOptions ?? deployedNodeOptions().split(' ').filter(Boolean)), entry, 'run', '--kubeconfig', kubeconfig,
    // Plain HTTP on loopback: the benchmark reads the metrics itself, without a token.
    '--metrics-secure=false', '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${healthPort}`, '--log-level', 'warn', ...extra],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then((r) => r.ok, () => false);
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error('operator did not become ready');
    await sleep(100);
  }
  return {
    proc, metricsPort,
    metrics: () => fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((r) => r.text()),
    rssBytes: () => statusKb(proc.pid, 'VmRSS') * 1024,
    peakRssBytes: () => statusKb(proc.pid, 'VmHWM') * 1024,
    stop: () => new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); }),
  };
}

/** A field of /proc/<pid>/status in kB (VmRSS: resident now; VmHWM: the peak resident size). */
function statusKb(pid: number | undefined, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
}

/** The NODE_OPTIONS the shipped Deployment gives the operator (the benchmarks run it the same way). */
export function deployedNodeOptions(): string {
  const d = loadYaml(readFileSync(join(repo, 'config/manager/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } } };
  };
  const env = d.spec.template.spec.containers.find((c) => c.name === 'operator')?.env ?? [];
  return env.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** Sum of a Prometheus counter's samples whose labels match all the given regexes. */
export function counter(text: string, name: string, labels: Record<string, RegExp> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const lbl = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const pairs: Record<string, string> = Object.fromEntries([...lbl.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
    if (Object.entries(labels).every(([k, re]) => re.test(pairs[k] ?? ''))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** NetworkPolicy writes as the apiserver counted them (all clients). */
export async function apiserverPolicyWrites(rest: RestClient): Promise<number> {
  const text = await rest.get<string>('/metrics');
  return counter(String(text), 'apiserver_request_total', { resource: /^networkpolicies$/, verb: /^(POST|PUT|PATCH|APPLY|DELETE)$/ });
}

export const round = (n: number, d = 2): number => Number(n.toFixed(d));

/** Calls `onAdded` for every managed policy that appears (our informer: a list, then a watch). */
export async function watchManagedPolicies(rest: RestClient, onAdded: (p: { metadata: { namespace: string; name: string } }) => void,
  labelSelector = MANAGED_SELECTOR): Promise<{ stop(): Promise<void> }> {
  const inf = new ResilientInformer<{ metadata: { namespace: string; name: string } }>(rest, '/apis/networking.k8s.io/v1/networkpolicies',
    { add: onAdded }, pino({ level: 'silent' }), { labelSelector });
  await inf.start();
  await inf.waitForSync();
  return inf;
}
