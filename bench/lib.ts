// Shared benchmark plumbing: a control plane (reused via TIO_KUBECONFIG or started fresh), the operator
// as a child process, and the apiserver's own request counters.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadKubeConfig } from '../src/kube/config.ts';
import { RestClient } from '../src/kube/rest.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { pino } from 'pino';
import { LABEL_MANAGED_BY, MANAGED_SELECTOR, OPERATOR_NAME, RESERVED_POLICY_PREFIX } from '../src/policy/labels.ts';
import { load as loadYaml } from 'js-yaml';
import { API_VERSION, KIND, PLURAL, type TenantIsolationObject } from '../src/api/schema.ts';
import { isNotFound } from '../src/kube/api-errors.ts';

export const repo = resolve(import.meta.dirname, '..');
/**
 * The checkout whose operator the benchmarks run: this one, or another revision's (TIO_BENCH_OPERATOR_ROOT,
 * its `npm ci` done, and `npm run build` for benchmarks that run dist/) for a same-run comparison of two
 * revisions under one benchmark script. The cluster, CRDs and admission policies stay this checkout's.
 */
export const operatorRoot = resolve(process.env.TIO_BENCH_OPERATOR_ROOT ?? repo);

/**
 * The name a floor gives the policy the operator would name `name`. The operator watches every policy
 * with a reserved name (a user's or forged one is its concern) and reconciles its namespace on each event,
 * and deletes one owned by a known tenant where that tenant claims nothing: under the reserved names, the
 * floor's phases carried the operator's reconciles (and, in bench/scale.ts, its deletes of the floor's
 * policies). Otherwise the objects are the same.
 */
export const floorPolicyName = (name: string): string => (name.startsWith(RESERVED_POLICY_PREFIX) ? `floor-${name.slice(RESERVED_POLICY_PREFIX.length)}` : name);

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
  // The admission gate is part of the default install: benchmarks measure the operator as shipped (its
  // membership keys ConfigMap lives in the operator's namespace).
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '-f', join(repo, 'config/manager/namespace.yaml')], { stdio: 'ignore' });
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-k', join(repo, 'config/admission')], { stdio: 'ignore' });
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'wait', '--for', 'condition=Established', 'crd/tenantisolations.isolation.tenancy.dev', 'crd/isolationprofiles.isolation.tenancy.dev', 'crd/isolationbaselines.isolation.tenancy.dev'], { stdio: 'ignore' });
  const rest = await RestClient.create(loadKubeConfig(kubeconfig));
  await garbageCollectorWatchesTenants(rest);
  return {
    kubeconfig, rest, kubectl,
    stop: () => {
      rest.close();
      // A cluster this run started is removed with its data (etcd's alone reaches 200 MB after the scale run).
      if (dir) { execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'down', '--dir', dir], { stdio: 'ignore' }); rmSync(dir, { recursive: true, force: true }); }
    },
  };
}

/**
 * Waits until kube-controller-manager's garbage collector watches TenantIsolations: it takes up a new
 * resource on its discovery resync, every 30 s. Until then every policy a tenant owns has an owner the
 * collector has not seen, and it checks each one with two live GETs, the policy and its tenant (a large
 * object in a tenant of 1 000 namespaces, whose status lists them): thousands of reads that land on
 * whichever phase runs then, and on the operator's alone (the floor's owners are ClusterRoles, watched from
 * the start). A cluster whose CRD was installed minutes before its tenants never sees this. The barrier: a
 * TenantIsolation deleted in the foreground keeps the collector's finalizer until the collector has seen it.
 */
async function garbageCollectorWatchesTenants(rest: RestClient, timeoutMs = 120_000): Promise<void> {
  const path = `/apis/${API_VERSION}/${PLURAL}`;
  const name = 'bench-gc-probe';
  await rest.create(path, { apiVersion: API_VERSION, kind: KIND, metadata: { name }, spec: { namespaceSelector: { matchLabels: { 'bench-gc-probe': 'none' } } } }, 'bench');
  await rest.delete(`${path}/${name}`, { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' });
  for (const end = performance.now() + timeoutMs; performance.now() < end; await sleep(250)) {
    try { await rest.get(`${path}/${name}`); } catch (e) { if (isNotFound(e)) return; throw e; }
  }
  throw new Error(`the garbage collector did not take up ${PLURAL} within ${timeoutMs / 1000} s (is kube-controller-manager running its garbage-collector-controller?)`);
}

export interface OperatorProcess {
  proc: ChildProcess; metricsPort: number; stop(): Promise<void>; metrics(): Promise<string>; rssBytes(): number; peakRssBytes(): number;
  /** The part of RSS that is file-backed pages (mostly the node binary's code and read-only data). */
  fileRssBytes(): number;
  /** CPU seconds so far by thread: the JavaScript thread, and V8's workers (parallel and concurrent GC, compilers). */
  threadCpuSeconds(): { main: number; v8Workers: number; other: number };
}

export async function startOperatorProcess(kubeconfig: string, extra: string[] = [], o: { dist?: boolean; nodeOptions?: string[]; logFile?: string } = {}): Promise<OperatorProcess> {
  const metricsPort = 20000 + Math.floor(Math.random() * 10000);
  const healthPort = metricsPort + 1;
  const entry = o.dist ? join(operatorRoot, 'dist/cli/main.js') : join(operatorRoot, 'src/cli/main.ts');
  // Plain HTTP on loopback: the benchmark reads the metrics itself, without a token (a revision older than
  // the flag serves them so anyway).
  const plain = readFileSync(join(operatorRoot, 'src/cli/flags.ts'), 'utf8').includes("'metrics-secure'") ? ['--metrics-secure=false'] : [];
  // TIO_BENCH_OPERATOR_NODE_OPTIONS adds options to the operator's node (e.g. --cpu-prof to see where its time goes);
  // TIO_BENCH_OPERATOR_HEAP_PROFILE_DIR records what it allocates (bench/heap-sampling.ts).
  const added = (process.env.TIO_BENCH_OPERATOR_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
  if (process.env.TIO_BENCH_OPERATOR_HEAP_PROFILE_DIR) added.push('--import', join(repo, 'bench/heap-sampling.ts'));
  const proc = spawn(process.execPath, [...(o.nodeOptions ?? deployedNodeOptions().split(' ').filter(Boolean)), ...added, entry, 'run', '--kubeconfig', kubeconfig,
    ...plain, '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${healthPort}`, '--log-level', 'warn', ...extra.filter((a) => plain.length > 0 || a !== '--metrics-secure=false')],
  { stdio: ['ignore', o.logFile ? openSync(o.logFile, 'a') : 'ignore', 'inherit'], env: { ...process.env, ...deployedEnv() } });
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
    fileRssBytes: () => statusKb(proc.pid, 'RssFile') * 1024,
    threadCpuSeconds: () => threadCpu(proc.pid),
    stop: () => new Promise((r) => { proc.once('exit', () => r()); proc.kill('SIGTERM'); }),
  };
}

const TENANTS_PATH = '/apis/isolation.tenancy.dev/v1alpha1/tenantisolations';

/** Creates or updates a TenantIsolation selecting the namespaces labelled `key: <its name>`. */
export function applyTenant(rest: RestClient, name: string, key: string): Promise<TenantIsolationObject> {
  return rest.apply<TenantIsolationObject>(`${TENANTS_PATH}/${name}`, {
    apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name }, spec: { namespaceSelector: { matchLabels: { [key]: name } } },
  }, 'bench');
}

/** How the tenants name their intra-tenant peers, as their status says (one mode for all, or an error). */
export async function peerModeOf(rest: RestClient, tenants: readonly string[]): Promise<'MembershipLabel' | 'NamespaceNames'> {
  const modes = new Set(await Promise.all(tenants.map(async (t) => (await rest.get<TenantIsolationObject>(`${TENANTS_PATH}/${t}`)).status?.intraTenantPeers ?? 'unset')));
  if (modes.size !== 1) throw new Error(`the tenants name their peers in several ways: ${[...modes].join(', ')}`);
  return [...modes][0] === 'MembershipLabel' ? 'MembershipLabel' : 'NamespaceNames';
}

/** Runs `fn` over the items, `n` at a time. */
export async function pool<T>(items: readonly T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]!); }));
}

/** The managed-by value of the floor's policies (bench/floor-client.ts): the operator leaves them alone. */
export const FLOOR_MANAGER = 'bench-floor';
/** The label of the ClusterRoles that stand for the floor's tenants (bench/floor-client.ts). */
export const FLOOR_OWNER_LABEL = 'bench-floor-owner';
/**
 * The floor's stand-ins for the operator's isolated and member-of namespace labels: the operator patches
 * both onto a namespace once its policies are stored, so the floor does too (one merge patch, through the
 * same admission policies), under keys the operator ignores.
 */
export const floorNamespaceLabels = (tenant: string): Record<string, string> => ({ 'bench-floor.tenancy.dev/isolated': 'true', 'bench-floor.tenancy.dev/member-of': tenant });

/** Creates the floor's tenants: ClusterRoles without rules, each owning its tenant's policies. */
export async function createFloorTenants(rest: RestClient, names: readonly string[]): Promise<void> {
  for (const name of names) {
    await rest.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels: { [FLOOR_OWNER_LABEL]: 'true' } }, rules: [],
    }, 'bench');
  }
}

export interface FloorClient { stop(): Promise<void> }

/**
 * Starts the plain client the operator is compared with (bench/floor-client.ts) as a process of its own:
 * it isolates every namespace labelled `labelKey=<tenant>` (a tenant made by createFloorTenants, its name
 * starting with `tenantPrefix`) the moment it sees it. Resolves once it is ready.
 */
export async function startFloorClient(kubeconfig: string, labelKey: string, tenantPrefix: string, peers: 'MembershipLabel' | 'NamespaceNames'): Promise<FloorClient> {
  const proc = spawn(process.execPath, [join(repo, 'bench/floor-client.ts'), '--kubeconfig', kubeconfig, '--label-key', labelKey, '--tenant-prefix', tenantPrefix, '--peers', peers],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    let out = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready\n')) ok(); });
    proc.once('exit', (code) => fail(new Error(`floor client exited (${code}) before it was ready`)));
  });
  return { stop: () => new Promise((r) => { if (proc.exitCode !== null) { r(); return; } proc.once('exit', () => r()); proc.kill('SIGTERM'); }) };
}

let clockTicks: number | undefined;
/** CPU seconds of each thread of a process, summed by kind (/proc/<pid>/task/<tid>/stat: utime + stime). */
function threadCpu(pid: number | undefined): { main: number; v8Workers: number; other: number } {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const out = { main: 0, v8Workers: 0, other: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try { stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'); } catch { continue; } // the thread ended
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(f[11]) + Number(f[12])) / clockTicks;
    if (tid === String(pid)) out.main += seconds; else if (comm === 'V8Worker') out.v8Workers += seconds; else out.other += seconds;
  }
  return out;
}

/** A field of /proc/<pid>/status in kB (VmRSS: resident now; VmHWM: the peak resident size). */
function statusKb(pid: number | undefined, field: string): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
}

/** The operator container's literal env values in config/manager/deployment.yaml (valueFrom ones left out). */
function deploymentEnv(): Record<string, string> {
  const d = loadYaml(readFileSync(join(operatorRoot, 'config/manager/deployment.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { name: string; env?: { name: string; value?: string }[] }[] } } };
  };
  const env = d.spec.template.spec.containers.find((c) => c.name === 'operator')?.env ?? [];
  return Object.fromEntries(env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
}

/** The NODE_OPTIONS the shipped Deployment gives the operator (the benchmarks run it the same way). */
export function deployedNodeOptions(): string { return deploymentEnv().NODE_OPTIONS ?? ''; }

/** The rest of the Deployment's environment (MALLOC_ARENA_MAX): the operator process runs with it, as in the cluster. */
export function deployedEnv(): Record<string, string> {
  const { NODE_OPTIONS: _, ...rest } = deploymentEnv();
  return rest;
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

/** A counter's values summed by one label's value. */
export function countersBy(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const v = new RegExp(`${label}="([^"]*)"`).exec(line)?.[1] ?? '';
    out[v] = (out[v] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

const WRITE_VERBS = /^(POST|PUT|PATCH|APPLY|DELETE|DELETECOLLECTION)$/;

/** NetworkPolicy writes as the apiserver counted them (all clients). */
export async function apiserverPolicyWrites(rest: RestClient): Promise<number> {
  const text = await rest.get<string>('/metrics');
  return counter(String(text), 'apiserver_request_total', { resource: /^networkpolicies$/, verb: WRITE_VERBS });
}

/** Every write the apiserver has counted (all clients, every response code), by "VERB resource[/subresource]". */
export async function apiserverWrites(rest: RestClient): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of String(await rest.get<string>('/metrics')).split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const l = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (!WRITE_VERBS.test(l.verb ?? '')) continue;
    const key = `${l.verb} ${l.resource}${l.subresource ? `/${l.subresource}` : ''}`;
    out[key] = (out[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

/** The apiserver's CPU seconds and its time spent on writes, by "VERB resource[/subresource]" (sum of seconds, count). */
export async function apiserverLoad(rest: RestClient): Promise<{ cpuSeconds: number; writeSeconds: Record<string, { sum: number; count: number }> }> {
  const text = String(await rest.get<string>('/metrics'));
  const writeSeconds: Record<string, { sum: number; count: number }> = {};
  for (const line of text.split('\n')) {
    const m = /^apiserver_request_duration_seconds_(sum|count)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const l = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (!WRITE_VERBS.test(l.verb ?? '')) continue;
    const key = `${l.verb} ${l.resource}${l.subresource ? `/${l.subresource}` : ''}`;
    const e = writeSeconds[key] ?? { sum: 0, count: 0 };
    e[m[1] as 'sum' | 'count'] += Number(m[3]);
    writeSeconds[key] = e;
  }
  return { cpuSeconds: counter(text, 'process_cpu_seconds_total'), writeSeconds };
}

/** Between two apiserverLoad() readings: CPU seconds, and the mean time of each kind of write (ms) that happened. */
export function loadSince(a: Awaited<ReturnType<typeof apiserverLoad>>, b: Awaited<ReturnType<typeof apiserverLoad>>): { cpuSeconds: number; meanWriteMs: Record<string, number> } {
  const meanWriteMs: Record<string, number> = {};
  for (const [k, v] of Object.entries(b.writeSeconds)) {
    const n = v.count - (a.writeSeconds[k]?.count ?? 0);
    if (n > 0) meanWriteMs[k] = round(((v.sum - (a.writeSeconds[k]?.sum ?? 0)) / n) * 1000, 1);
  }
  return { cpuSeconds: round(b.cpuSeconds - a.cpuSeconds), meanWriteMs };
}

/** What was written between two apiserverWrites() readings: only the keys that moved. */
export function writesSince(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)] as const).filter(([, d]) => d !== 0).sort(([a], [b]) => a.localeCompare(b)));
}

/** The sum of a writesSince() result, over the keys whose resource matches. */
export const sumWrites = (w: Record<string, number>, resource: RegExp = /./): number =>
  Object.entries(w).filter(([k]) => resource.test(k.slice(k.indexOf(' ') + 1))).reduce((a, [, v]) => a + v, 0);

/**
 * Lease renewals are heartbeats, not work (the apiserver's own identity lease every 10 s; the operator's
 * and the controller-manager's leader election when on): quiescence ignores them.
 */
const HEARTBEAT = /^\S+ leases$/;

/**
 * Waits for quiescence: every operator's work queues empty, no reconcile running and no Event waiting to
 * be sent (its metrics: workqueue_depth, controller_runtime_active_workers,
 * tenant_isolation_events_pending), and no write to the apiserver from anyone for `quietMs` (its apiserver_request_total, lease heartbeats aside). Every phase of a benchmark starts and
 * ends here, so a phase's counts hold all the work it caused and none of the next one's. Returns how long
 * reaching quiescence took, in ms (the quiet period included).
 */
const isOperatorList = (o: OperatorProcess | readonly OperatorProcess[]): o is readonly OperatorProcess[] => Array.isArray(o);

export async function quiescent(rest: RestClient, ops: OperatorProcess | readonly OperatorProcess[] = [], o: { quietMs?: number; timeoutMs?: number } = {}): Promise<number> {
  const quietMs = o.quietMs ?? 3000;
  const timeoutMs = o.timeoutMs ?? 600_000;
  const operators: readonly OperatorProcess[] = isOperatorList(ops) ? ops : [ops];
  const t0 = performance.now();
  let last = -1;
  let quietSince = t0;
  for (;;) {
    const busy = (await Promise.all(operators.map(async (op) => {
      const m = await op.metrics();
      // Events still in a batch window land up to 5 s later: they belong to this phase, not the next.
      return counter(m, 'workqueue_depth') + counter(m, 'controller_runtime_active_workers') + counter(m, 'tenant_isolation_events_pending');
    }))).reduce((a, b) => a + b, 0);
    const w = await apiserverWrites(rest);
    const writes = Object.entries(w).filter(([k]) => !HEARTBEAT.test(k)).reduce((a, [, v]) => a + v, 0);
    const now = performance.now();
    if (busy > 0 || writes !== last) { last = writes; quietSince = now; }
    if (now - quietSince >= quietMs) return round(now - t0, 0);
    if (now - t0 > timeoutMs) throw new Error(`no quiescence within ${timeoutMs} ms (operator work: ${busy}, writes still moving)`);
    await sleep(250);
  }
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

export interface IsolationWatch {
  /** When each namespace was seen holding all its policies (performance.now()). */
  readonly at: ReadonlyMap<string, number>;
  /** Resolves true once every one of the namespaces is isolated, false at the deadline. */
  waitFor(names: readonly string[], timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * One watch here that times both the operator and the floor: a namespace whose name starts with `prefix`
 * is isolated when `expected` distinct policies, the operator's or the floor's, are stored in it.
 */
export async function watchIsolations(rest: RestClient, prefix: string, expected = 3): Promise<IsolationWatch> {
  const names = new Map<string, Set<string>>();
  const at = new Map<string, number>();
  const w = await watchManagedPolicies(rest, (p) => {
    const ns = p.metadata.namespace;
    if (!ns.startsWith(prefix) || at.has(ns)) return;
    const s = names.get(ns) ?? new Set();
    s.add(p.metadata.name);
    names.set(ns, s);
    if (s.size === expected) { at.set(ns, performance.now()); names.delete(ns); }
  }, `${LABEL_MANAGED_BY} in (${OPERATOR_NAME},${FLOOR_MANAGER})`);
  return {
    at,
    waitFor: async (list, timeoutMs) => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        if (list.every((n) => at.has(n))) return true;
        if (performance.now() > deadline) return false;
        await sleep(20);
      }
    },
    stop: () => w.stop(),
  };
}

export const stats = (xs: readonly number[]): { n: number; p50: number; p90: number; p99: number; max: number } =>
  ({ n: xs.length, p50: round(percentile([...xs], 50)), p90: round(percentile([...xs], 90)), p99: round(percentile([...xs], 99)), max: round(xs.length ? Math.max(...xs) : NaN) });


export interface TargetCheck { target: string; measured: number; limit: number }

/**
 * Checks measured figures against their upper limits: returns the verdict the JSON document carries, and
 * sets a non-zero exit code when one is missed (the stderr line names each).
 */
export function checkTargets(checks: readonly TargetCheck[]): { met: boolean; missed: TargetCheck[]; checked: TargetCheck[] } {
  const missed = checks.filter((c) => !(c.measured <= c.limit));
  for (const m of missed) process.stderr.write(`target missed: ${m.target}: measured ${m.measured}, limit ${m.limit}\n`);
  if (missed.length > 0) process.exitCode = 1;
  return { met: missed.length === 0, missed, checked: [...checks] };
}

/**
 * Where an operator's time went, per controller, between two metrics readings: mean seconds an item waited
 * in the queue and mean seconds its processing took (workqueue_queue_duration_seconds,
 * workqueue_work_duration_seconds), and how many items.
 */
export function queueTimes(before: string, after: string): Record<string, { items: number; meanQueueMs: number; meanWorkMs: number }> {
  const out: Record<string, { items: number; meanQueueMs: number; meanWorkMs: number }> = {};
  const names = new Set([...after.matchAll(/^workqueue_work_duration_seconds_count\{[^}]*name="([^"]+)"/gm)].map((m) => m[1]!));
  for (const name of names) {
    const d = (metric: string): number => counter(after, metric, { name: new RegExp(`^${name}$`) }) - counter(before, metric, { name: new RegExp(`^${name}$`) });
    const items = d('workqueue_work_duration_seconds_count');
    if (items <= 0) continue;
    out[name] = { items, meanQueueMs: round((d('workqueue_queue_duration_seconds_sum') / Math.max(1, d('workqueue_queue_duration_seconds_count'))) * 1000, 1), meanWorkMs: round((d('workqueue_work_duration_seconds_sum') / items) * 1000, 1) };
  }
  return out;
}
