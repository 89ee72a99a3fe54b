// Benchmark (not a test): time-to-isolation at a steady arrival rate, writes per namespace, and writes
// during a no-op resync. Prints one JSON document.
//   node bench/time-to-isolation.ts [--rate 20] [--count 400] [--tenants 40] [--concurrency 4] [--node-options '...']
// The operator runs with the Deployment's NODE_OPTIONS unless --node-options says otherwise.
// Time-to-isolation = from the request that creates a labelled namespace until a watch in this process
// has seen all its managed policies stored. Writes are counted by the apiserver (apiserver_request_total).
import { parseArgs } from 'node:util';
import { apiserverPolicyWrites, cluster, deployedNodeOptions, watchManagedPolicies, counter, percentile, round, sleep, startOperatorProcess } from './lib.ts';

const { values } = parseArgs({ options: { rate: { type: 'string', default: '20' }, count: { type: 'string', default: '400' }, tenants: { type: 'string', default: '40' }, concurrency: { type: 'string', default: '4' }, 'operator-args': { type: 'string', default: '' }, 'node-options': { type: 'string', default: deployedNodeOptions() } } });
const OPERATOR_ARGS = values['operator-args'].split(' ').filter(Boolean);
const NODE_OPTIONS = values['node-options'].split(' ').filter(Boolean);
const rate = Number(values.rate);
const count = Number(values.count);
const tenantCount = Number(values.tenants);
const run = Date.now().toString(36);

const c = await cluster();
let op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', values.concurrency, ...OPERATOR_ARGS], { nodeOptions: NODE_OPTIONS });
try {
  const tenants = Array.from({ length: tenantCount }, (_, i) => `bench-${run}-t${i}`);
  for (const t of tenants) {
    await c.rest.apply(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`, {
      apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: t },
      spec: { namespaceSelector: { matchLabels: { 'bench-tenant': t } } },
    }, 'bench');
  }
  await sleep(500);

  // Watch policies: record when each namespace holds all three.
  const seen = new Map<string, Set<string>>();
  const done = new Map<string, number>();
  const watch = await watchManagedPolicies(c.rest, (obj) => {
    if (!obj.metadata.namespace.startsWith(`bench-${run}-`)) return;
    const s = seen.get(obj.metadata.namespace) ?? new Set();
    s.add(obj.metadata.name);
    seen.set(obj.metadata.namespace, s);
    if (s.size === 3 && !done.has(obj.metadata.namespace)) done.set(obj.metadata.namespace, performance.now());
  });

  const writesBefore = await apiserverPolicyWrites(c.rest);
  const started = new Map<string, number>();
  const members = new Map<string, number>();
  let needed = 0;
  const interval = 1000 / rate;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const target = t0 + i * interval;
    const wait = target - performance.now();
    if (wait > 0) await sleep(wait);
    const tenant = tenants[i % tenants.length]!;
    const ns = `bench-${run}-ns${i}`;
    const existing = members.get(tenant) ?? 0;
    needed += 3 + existing; // own deny/dns/intra + one intra-tenant update per existing member
    members.set(tenant, existing + 1);
    started.set(ns, performance.now());
    void c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'bench-tenant': tenant } } }, 'bench');
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  const deadline = Date.now() + 60_000;
  while (done.size < count && Date.now() < deadline) await sleep(50);
  await sleep(1500); // let intra-tenant updates finish
  const writesAfterLoad = await apiserverPolicyWrites(c.rest);

  const loadMetrics = await op.metrics();
  const rssAfterLoad = op.rssBytes();

  // No-op resync: restart the operator (a full relist and reconcile of everything) with a 3 s resync
  // period and let it resync twice; nothing changed, so nothing may be written.
  await op.stop();
  op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '3', '--concurrency', values.concurrency, ...OPERATOR_ARGS], { nodeOptions: NODE_OPTIONS });
  await sleep(7_500);
  const writesAfterResync = await apiserverPolicyWrites(c.rest);
  const resyncMetrics = await op.metrics();

  const lat = [...started].filter(([ns]) => done.has(ns)).map(([ns, s]) => done.get(ns)! - s);
  await watch.stop();
  console.log(JSON.stringify({
    benchmark: 'time-to-isolation',
    kubernetes: 'v1.37.2 (local control plane)',
    arrivalRatePerSecond: rate,
    namespaces: count,
    tenants: tenantCount,
    concurrency: Number(values.concurrency),
    operatorArgs: OPERATOR_ARGS.join(' '),
    operatorNodeOptions: NODE_OPTIONS.join(' '),
    sendSeconds: round(sendSeconds),
    isolated: lat.length,
    timeToIsolationMs: { p50: round(percentile(lat, 50)), p90: round(percentile(lat, 90)), p99: round(percentile(lat, 99)), max: round(Math.max(...lat)) },
    policyWrites: { measured: writesAfterLoad - writesBefore, needed, perNamespace: round((writesAfterLoad - writesBefore) / count) },
    noOpResyncWrites: writesAfterResync - writesAfterLoad,
    noOpResyncReconciles: counter(resyncMetrics, 'controller_runtime_reconcile_total'),
    operatorAfterLoad: {
      rssMB: round(rssAfterLoad / 2 ** 20, 1),
      heapUsedMB: round(counter(loadMetrics, 'nodejs_heap_size_used_bytes') / 2 ** 20, 1),
      reconciles: counter(loadMetrics, 'controller_runtime_reconcile_total'),
      reconcileErrors: counter(loadMetrics, 'controller_runtime_reconcile_errors_total'),
      // The operator's own view: from its namespace event to the write acknowledged (cumulative buckets).
      operatorTimeToIsolationBuckets: Object.fromEntries(loadMetrics.split('\n')
        .filter((l) => l.startsWith('tenant_isolation_time_to_isolation_seconds_bucket'))
        .map((l) => [/le="([^"]+)"/.exec(l)?.[1] ?? '', Number(l.slice(l.lastIndexOf(' ') + 1))])),
      reconcileSecondsSum: counter(loadMetrics, 'controller_runtime_reconcile_time_seconds_sum'),
    },
    targets: { p50Ms: 25, p99Ms: 100, writes: 'exactly needed', noOpResyncWrites: 0 },
  }, null, 2));
} finally {
  await op.stop();
  c.stop();
}
