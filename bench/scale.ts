// Benchmark (not a test): a burst of namespaces, beside a plain client making the same writes in the same
// run (the floor), then the operator's memory at 10 000 namespaces. Prints one JSON document.
//   node bench/scale.ts [--burst 1000] [--total 10000] [--per-tenant 5]
// The operator runs from dist/ (built first) as a separate process, as in the container image.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseTenant } from '../src/api/schema.ts';
import { planNamespace, policiesToApply } from '../src/policy/desired.ts';
import { apiserverPolicyWrites, cluster, watchManagedPolicies, counter, repo, round, sleep, startOperatorProcess } from './lib.ts';

const { values } = parseArgs({ options: {
  burst: { type: 'string', default: '1000' }, total: { type: 'string', default: '10000' }, 'per-tenant': { type: 'string', default: '5' },
  concurrency: { type: 'string', default: '4' }, 'node-options': { type: 'string', default: '' }, 'operator-args': { type: 'string', default: '' },
} });
const BURST = Number(values.burst);
const TOTAL = Number(values.total);
const PER_TENANT = Number(values['per-tenant']);
const CONCURRENCY = Number(values.concurrency);
const NODE_OPTIONS = values['node-options'].split(' ').filter(Boolean);
const OPERATOR_ARGS = values['operator-args'].split(' ').filter(Boolean);
const run = Date.now().toString(36);

execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.build.json')], { stdio: 'inherit' });
const c = await cluster();

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]!); }));
}
const nsName = (i: number): string => `s-${run}-${i}`;
const tenantOf = (i: number): string => `s-${run}-t${Math.floor(i / PER_TENANT)}`;
const createNs = (name: string, labels: Record<string, string>) => c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'bench');
const applyTenantFor = (t: string) => c.rest.apply(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`, {
  apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: t }, spec: { namespaceSelector: { matchLabels: { 'scale-tenant': t } } },
}, 'bench');

// Count namespaces whose three policies are stored, from a watch in this process.
const seen = new Map<string, number>();
let isolatedCount = 0;
const watch = await watchManagedPolicies(c.rest, (obj) => {
  if (!obj.metadata.namespace.startsWith(`s-${run}-`)) return;
  const n = (seen.get(obj.metadata.namespace) ?? 0) + 1;
  seen.set(obj.metadata.namespace, n);
  if (n === 3) isolatedCount++;
});
const waitIsolated = async (n: number, timeoutMs: number) => { const d = Date.now() + timeoutMs; while (isolatedCount < n && Date.now() < d) await sleep(20); return isolatedCount >= n; };

let op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS], { dist: true, nodeOptions: NODE_OPTIONS });
try {
  const tenants = [...new Set(Array.from({ length: TOTAL }, (_, i) => tenantOf(i)))];
  await pool(tenants.slice(0, Math.ceil(BURST / PER_TENANT)), 16, applyTenantFor);
  await sleep(1000);

  // 1. Burst: BURST labelled namespaces as fast as the client can create them.
  const w0 = await apiserverPolicyWrites(c.rest);
  const m0 = await op.metrics();
  const t0 = performance.now();
  await pool(Array.from({ length: BURST }, (_, i) => i), 32, (i) => createNs(nsName(i), { 'scale-tenant': tenantOf(i) }));
  const ok = await waitIsolated(BURST, 300_000);
  const opSeconds = (performance.now() - t0) / 1000;
  await sleep(2000); // trailing intra-tenant updates
  const opWrites = (await apiserverPolicyWrites(c.rest)) - w0;
  const m1 = await op.metrics();
  const reconciles = counter(m1, 'controller_runtime_reconcile_total') - counter(m0, 'controller_runtime_reconcile_total');

  // 2. Floor, same run: a plain client creates BURST namespaces and writes the same policies (the final
  // three per namespace, as many writes as the operator needed), labelled so the operator ignores them.
  const floorTenants = tenants.slice(0, Math.ceil(BURST / PER_TENANT)).map((t, k) => {
    const p = parseTenant({ metadata: { name: `${t}-floor`, uid: `00000000-0000-0000-0000-${String(k).padStart(12, '0')}`, generation: 1 }, spec: { namespaceSelector: { matchLabels: { x: t } } } });
    if (!p.ok) throw new Error(p.error);
    return p.tenant;
  });
  const fw0 = await apiserverPolicyWrites(c.rest);
  const f0 = performance.now();
  await pool(Array.from({ length: BURST }, (_, i) => i), 32, async (i) => {
    const ns = `f-${run}-${i}`;
    await createNs(ns, {});
    const first = i - (i % PER_TENANT);
    const members = Array.from({ length: PER_TENANT }, (_, j) => `f-${run}-${first + j}`);
    const t = floorTenants[Math.floor(i / PER_TENANT)]!;
    const writes = policiesToApply(planNamespace(ns, [t], () => members));
    await Promise.all(writes.map((p) => c.rest.apply(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${p.metadata.name}`,
      { ...p, metadata: { name: p.metadata.name, namespace: ns, labels: { 'bench-floor': 'true' } } }, 'floor')));
  });
  const floorSeconds = (performance.now() - f0) / 1000;
  const floorWrites = (await apiserverPolicyWrites(c.rest)) - fw0;

  // 3. No-op resync: restart (a full relist and reconcile of everything) with a 4 s resync; count writes.
  await op.stop();
  op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '4', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS], { dist: true, nodeOptions: NODE_OPTIONS });
  const r0 = await apiserverPolicyWrites(c.rest);
  await sleep(10_000);
  const resyncWrites = (await apiserverPolicyWrites(c.rest)) - r0;
  const resyncReconciles = counter(await op.metrics(), 'controller_runtime_reconcile_total');

  // 4. Memory at TOTAL namespaces, with the operator as deployed (no short resync).
  await op.stop();
  op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS], { dist: true, nodeOptions: NODE_OPTIONS });
  await pool(tenants.slice(Math.ceil(BURST / PER_TENANT)), 16, applyTenantFor);
  const g0 = performance.now();
  await pool(Array.from({ length: TOTAL - BURST }, (_, k) => k + BURST), 32, (i) => createNs(nsName(i), { 'scale-tenant': tenantOf(i) }));
  // Converged when the operator's own policies number 3 per namespace (counted by the apiserver, paged).
  const managedCount = async (): Promise<number> => {
    let n = 0; let cont: string | undefined;
    do {
      const page = await c.rest.get<{ items: unknown[]; metadata: { continue?: string } }>('/apis/networking.k8s.io/v1/networkpolicies', { labelSelector: 'app.kubernetes.io/managed-by=tenant-isolation-operator', limit: 5000, continue: cont });
      n += page.items.length; cont = page.metadata.continue || undefined;
    } while (cont);
    return n;
  };
  let all = false;
  for (const deadline = Date.now() + 900_000; Date.now() < deadline;) { if ((await managedCount()) >= 3 * TOTAL) { all = true; break; } await sleep(3000); }
  const growSeconds = (performance.now() - g0) / 1000;
  await sleep(20_000); // let status writes and GC settle
  const mem = await op.metrics();
  await watch.stop();
  console.log(JSON.stringify({
    benchmark: 'scale',
    kubernetes: 'v1.37.2 (local control plane, 2 cores shared by etcd, apiserver, operator and the load)',
    operatorConcurrency: CONCURRENCY,
    operatorNodeOptions: NODE_OPTIONS.join(' '),
    operatorArgs: OPERATOR_ARGS.join(' '),
    burst: {
      namespaces: BURST, allIsolated: ok, namespacesPerTenant: PER_TENANT,
      operatorSeconds: round(opSeconds), plainClientFloorSeconds: round(floorSeconds), ratioToFloor: round(opSeconds / floorSeconds),
      policyWrites: opWrites, floorPolicyWrites: floorWrites, writesPerNamespace: round(opWrites / BURST),
      reconciles, reconcilesPerSecond: round(reconciles / opSeconds, 1),
    },
    noOpResync: { policyWrites: resyncWrites, reconciles: resyncReconciles, countedBy: 'apiserver_request_total{resource="networkpolicies",verb=~"POST|PUT|PATCH|APPLY|DELETE"}' },
    at10k: {
      namespaces: TOTAL, allIsolated: all, growSeconds: round(growSeconds),
      rssMB: round(op.rssBytes() / 2 ** 20, 1),
      heapUsedMB: round(counter(mem, 'nodejs_heap_size_used_bytes') / 2 ** 20, 1),
      managedPolicies: counter(mem, 'tenant_isolation_managed_policies'),
    },
    targets: { ratioToFloor: 1.3, noOpResyncWrites: 0, rssMB: 200 },
  }, null, 2));
} finally {
  await op.stop();
  c.stop();
}
