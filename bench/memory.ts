// Benchmark (not a test): the operator's resident memory at a given number of namespaces, each size in a
// fresh control plane. Prints one JSON document.
//   node bench/memory.ts [--namespaces 700,10000,50000] [--per-tenant 5] [--create-concurrency 64]
//        [--concurrency 16] [--restart] [--heap-snapshot DIR] [--operator-args=...] [--node-options=...]
// For each size: the operator starts on an empty cluster (its fixed cost), then tenants of --per-tenant
// namespaces and the namespaces themselves arrive in one burst of parallel POSTs while RSS is sampled every
// 100 ms (the burst's peak, with VmHWM beside it). Once the operator is quiescent (every namespace Isolated
// in its tenant's status, queues empty, no write for 5 s) and has returned the burst's free heap (its
// tenant_isolation_heap_reliefs_total moved; `heapReliefSeen` says if it did within 15 s) it reads the
// steady RSS and heap, then a reading
// after a forced full GC (through the inspector, which SIGUSR1 opens: no flag changes how the operator
// runs). --restart adds a restart on the full cluster (a relist of everything: the other peak).
// The operator runs from dist/ as in the image, with the Deployment's NODE_OPTIONS unless --node-options.
// With TIO_KUBECONFIG every size runs in that one cluster (for development; figures need fresh ones).
import { execFileSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONCURRENCY } from '../src/cli/flags.ts';
import { cluster, counter, countersBy, deployedEnv, deployedNodeOptions, repo, round, sleep, startOperatorProcess, type Cluster, type OperatorProcess } from './lib.ts';

const { values } = parseArgs({ options: {
  namespaces: { type: 'string', default: '700,10000,50000' }, 'per-tenant': { type: 'string', default: '5' },
  'create-concurrency': { type: 'string', default: '64' }, concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) },
  restart: { type: 'boolean', default: false }, 'heap-snapshot': { type: 'string' },
  'node-options': { type: 'string', default: deployedNodeOptions() }, 'operator-args': { type: 'string', default: '' },
} });
const SIZES = values.namespaces.split(',').map(Number);
const PER_TENANT = Number(values['per-tenant']);
const CREATE_CONCURRENCY = Number(values['create-concurrency']);
const NODE_OPTIONS = values['node-options'].split(' ').filter(Boolean);
const OPERATOR_ARGS = values['operator-args'].split(' ').filter(Boolean);
const MB = 2 ** 20;
const mb = (bytes: number): number => round(bytes / MB, 1);

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]!); }));
}

/** The kernel's clock ticks per second (USER_HZ: 100 on nearly every Linux, but asked, not assumed). */
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) the process has used: /proc/<pid>/stat fields 14 and 15, in clock ticks. */
function cpuSeconds(op: OperatorProcess): number {
  const stat = readFileSync(`/proc/${op.proc.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** VmRSS every 100 ms: the highest reading, and when it was taken. */
function sampleRss(op: OperatorProcess): { stop(): { peakBytes: number; samples: number } } {
  let peak = 0; let samples = 0;
  const timer = setInterval(() => { try { peak = Math.max(peak, op.rssBytes()); samples++; } catch { /* exited */ } }, 100);
  return { stop: () => { clearInterval(timer); return { peakBytes: peak, samples }; } };
}

const sum = (text: string, name: string): number => counter(text, name);

/**
 * Quiescent: `ready` holds, every queue is empty with no worker busy, and the operator's write counter has
 * not moved for `quietMs`; then, steady: the operator has returned the burst's free heap (its heap relief
 * runs a few seconds after its own last activity, which may come after our last sight of it, so we wait for
 * its counter to move past its value at the last activity seen, at most `reliefTimeoutMs`). Returns how
 * long it took to be quiescent, and whether a relief was seen.
 */
async function quiescence(op: OperatorProcess, ready: (metrics: string) => boolean, timeoutMs: number, quietMs = 5000, reliefTimeoutMs = 15_000): Promise<{ seconds: number; relieved: boolean }> {
  const t0 = performance.now();
  let writes = -1; let since = performance.now(); let reliefs = 0;
  for (const deadline = Date.now() + timeoutMs; ; await sleep(250)) {
    if (Date.now() > deadline) throw new Error(`operator not quiescent after ${timeoutMs / 1000} s`);
    const m = await op.metrics();
    const w = sum(m, 'tenant_isolation_api_writes_total');
    const idle = ready(m) && sum(m, 'workqueue_depth') === 0 && sum(m, 'controller_runtime_active_workers') === 0;
    if (!idle || w !== writes) { writes = w; since = performance.now(); reliefs = sum(m, 'tenant_isolation_heap_reliefs_total'); continue; }
    if (performance.now() - since >= quietMs) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  for (const end = performance.now() + reliefTimeoutMs; performance.now() < end; await sleep(250)) {
    if (sum(await op.metrics(), 'tenant_isolation_heap_reliefs_total') > reliefs) return { seconds, relieved: true };
  }
  return { seconds, relieved: false };
}

/** A DevTools protocol session with the operator: SIGUSR1 starts its inspector on the --inspect-port given. */
async function inspect(op: OperatorProcess, port: number): Promise<{ call(method: string, params?: object): Promise<Record<string, unknown>>; on(event: string, fn: (p: Record<string, unknown>) => void): void; close(): void }> {
  op.proc.kill('SIGUSR1');
  let targets: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 50 && targets.length === 0; i++) {
    targets = await fetch(`http://127.0.0.1:${port}/json/list`).then((r) => r.json() as Promise<typeof targets>, () => []);
    if (targets.length === 0) await sleep(100);
  }
  if (!targets[0]) throw new Error('the operator did not open its inspector after SIGUSR1');
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let id = 0;
  const pending = new Map<number, (r: Record<string, unknown>) => void>();
  const listeners = new Map<string, (p: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: Record<string, unknown>; method?: string; params?: Record<string, unknown> };
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? {});
    else if (msg.method) listeners.get(msg.method)?.(msg.params ?? {});
  };
  return {
    call: (method, params = {}) => new Promise((resolve) => { pending.set(++id, resolve); ws.send(JSON.stringify({ id, method, params })); }),
    on: (event, fn) => { listeners.set(event, fn); },
    close: () => ws.close(),
  };
}

async function heapReading(op: OperatorProcess): Promise<{ rssMB: number; fileRssMB: number; heapUsedMB: number; heapTotalMB: number; externalMB: number }> {
  const m = await op.metrics();
  return { rssMB: mb(op.rssBytes()), fileRssMB: mb(op.fileRssBytes()), heapUsedMB: mb(sum(m, 'nodejs_heap_size_used_bytes')), heapTotalMB: mb(sum(m, 'nodejs_heap_size_total_bytes')), externalMB: mb(sum(m, 'nodejs_external_memory_bytes')) };
}

async function measure(c: Cluster, total: number): Promise<Record<string, unknown>> {
  const run = Date.now().toString(36);
  // Below Linux's ephemeral range (32768-60999): at 50 000 namespaces the clients' own sockets hold
  // thousands of ports there, and the inspector could not listen on one of them.
  const inspectPort = 10000 + Math.floor(Math.random() * 10000);
  const args = ['--resync-period', '0', '--concurrency', values.concurrency, ...OPERATOR_ARGS];
  const start = () => startOperatorProcess(c.kubeconfig, args, { dist: true, nodeOptions: [...NODE_OPTIONS, `--inspect-port=127.0.0.1:${inspectPort}`] });
  let op = await start();
  try {
    const isolated = (m: string): number => counter(m, 'tenant_isolation_namespaces', { state: /^Isolated$/ });
    // Fixed cost: the operator on a cluster without tenants, settled.
    await quiescence(op, () => true, 60_000);
    const idle = await heapReading(op);

    const tenants = Array.from({ length: Math.ceil(total / PER_TENANT) }, (_, k) => `m-${run}-t${k}`);
    const sampler = sampleRss(op);
    const cpu0 = cpuSeconds(op);
    const t0 = performance.now();
    await pool(tenants, 16, (t) => c.rest.apply(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`, {
      apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: t }, spec: { namespaceSelector: { matchLabels: { 'memory-tenant': t } } },
    }, 'bench'));
    await pool(Array.from({ length: total }, (_, i) => i), CREATE_CONCURRENCY, (i) => c.rest.create('/api/v1/namespaces',
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `m-${run}-${i}`, labels: { 'memory-tenant': tenants[Math.floor(i / PER_TENANT)]! } } }, 'bench'));
    const createSeconds = (performance.now() - t0) / 1000;
    const { seconds: settleSeconds, relieved } = await quiescence(op, (m) => isolated(m) >= total, Math.max(600_000, total * 200));
    const burst = sampler.stop();
    const burstCpu = cpuSeconds(op) - cpu0;
    const m = await op.metrics();
    const steady = await heapReading(op);
    const peakRss = Math.max(burst.peakBytes, op.peakRssBytes());

    // After a forced full collection: what is live, without garbage V8 had not collected yet.
    const session = await inspect(op, inspectPort);
    await session.call('HeapProfiler.collectGarbage');
    await sleep(1000);
    const afterGc = await heapReading(op);
    if (values['heap-snapshot']) {
      const file = join(values['heap-snapshot'], `operator-${total}.heapsnapshot`);
      const out = createWriteStream(file);
      session.on('HeapProfiler.addHeapSnapshotChunk', (p) => out.write(String(p.chunk)));
      await session.call('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
      await new Promise((r) => out.end(r));
    }
    session.close();

    let restart: Record<string, unknown> | undefined;
    if (values.restart) {
      await op.stop();
      op = await start();
      const s = sampleRss(op);
      const { seconds: settle } = await quiescence(op, (mm) => isolated(mm) >= total, Math.max(600_000, total * 200));
      const p = s.stop();
      const r = await heapReading(op);
      restart = { settleSeconds: round(settle), steady: r, peakRssMB: mb(Math.max(p.peakBytes, op.peakRssBytes())), peakToSteady: round(Math.max(p.peakBytes, op.peakRssBytes()) / MB / r.rssMB) };
    }
    return {
      namespaces: total, tenants: tenants.length, managedPolicies: sum(m, 'tenant_isolation_managed_policies'),
      idle,
      burst: { createSeconds: round(createSeconds), settleSecondsAfterCreate: round(settleSeconds), operatorCpuSeconds: round(burstCpu),
        // The operator's own count, by resource: the burst's cost in writes (3 policies a namespace at best).
        operatorWrites: countersBy(m, 'tenant_isolation_api_writes_total', 'resource'), peakRssMB: mb(peakRss), sampledPeakRssMB: mb(burst.peakBytes), samples: burst.samples },
      steady, heapReliefSeen: relieved, afterForcedGc: afterGc,
      peakToSteady: round(peakRss / MB / steady.rssMB),
      perNamespaceKB: round((steady.rssMB - idle.rssMB) * 1024 / total, 2),
      ...(restart ? { restart } : {}),
    };
  } finally {
    await op.stop();
  }
}

execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.build.json')], { stdio: 'inherit' });
const results: Record<string, unknown>[] = [];
for (const total of SIZES) {
  const c = await cluster();
  try { results.push(await measure(c, total)); } finally { c.stop(); }
  process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
}
// The targets: Capsule's shape (about 700 namespaces) under 100 MB steady with a peak under 1.3x
// steady, and at most 128 MB at 10 000 namespaces. Each applies to the sizes that match it.
const TARGETS = { steadyRssMBNear700: 100, peakToSteadyNear700: 1.3, steadyRssMBAt10000: 128 };
const missed: string[] = [];
for (const r of results as { namespaces: number; steady: { rssMB: number }; peakToSteady: number; restart?: { peakRssMB: number } }[]) {
  if (r.namespaces >= 500 && r.namespaces <= 1000) {
    if (r.steady.rssMB >= TARGETS.steadyRssMBNear700) missed.push(`steady RSS ${r.steady.rssMB} MB at ${r.namespaces} namespaces (target < ${TARGETS.steadyRssMBNear700} MB)`);
    if (r.peakToSteady >= TARGETS.peakToSteadyNear700) missed.push(`burst peak ${r.peakToSteady}x steady at ${r.namespaces} namespaces (target < ${TARGETS.peakToSteadyNear700}x)`);
    const restartRatio = r.restart ? round(r.restart.peakRssMB / r.steady.rssMB) : 0;
    if (restartRatio >= TARGETS.peakToSteadyNear700) missed.push(`restart peak ${restartRatio}x steady at ${r.namespaces} namespaces (target < ${TARGETS.peakToSteadyNear700}x)`);
  }
  if (r.namespaces === 10_000 && r.steady.rssMB > TARGETS.steadyRssMBAt10000) missed.push(`steady RSS ${r.steady.rssMB} MB at 10 000 namespaces (target <= ${TARGETS.steadyRssMBAt10000} MB)`);
}
console.log(JSON.stringify({
  benchmark: 'memory',
  kubernetes: 'v1.37.2 (local control plane, 2 cores shared by etcd, apiserver, operator and the load)',
  operatorNodeOptions: NODE_OPTIONS.join(' '), operatorEnv: deployedEnv(), operatorArgs: OPERATOR_ARGS.join(' '), namespacesPerTenant: PER_TENANT, policiesPerNamespace: 3,
  sizes: results,
  targets: TARGETS, missed,
}, null, 2));
if (missed.length > 0) {
  process.stderr.write(`memory targets missed:\n  ${missed.join('\n  ')}\n`);
  process.exitCode = 1;
}
