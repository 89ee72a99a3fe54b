// Benchmark (not a test): a burst of namespaces, beside a plain client making the same writes in the same
// run (the floor), then the operator's memory at 10 000 namespaces. Prints one JSON document.
//   node bench/scale.ts [--burst 1000] [--rounds 5] [--total 10000] [--per-tenant 5] [--concurrency 16] [--pods-per-namespace 0] [--burst-only]
// The operator runs from dist/ (built first) as a separate process, as in the container image, with the
// Deployment's NODE_OPTIONS (--node-options overrides them).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_CONCURRENCY } from '../src/cli/flags.ts';
import { parseTenant, type TenantIsolationObject } from '../src/api/schema.ts';
import { pino } from 'pino';
import { ResilientInformer } from '../src/kube/informer.ts';
import { LABEL_ISOLATED, LABEL_MANAGED_BY, MANAGED_SELECTOR, OPERATOR_NAME } from '../src/policy/labels.ts';
import type { NamespaceObject } from '../src/policy/types.ts';
import { planNamespace, policiesToApply } from '../src/policy/desired.ts';
import { apiserverLoad, apiserverPolicyWrites, apiserverWrites, checkTargets, cluster, countersBy, deployedNodeOptions, floorNamespaceLabels, floorPolicyName, watchManagedPolicies, counter, repo, quiescent, round, sleep, startOperatorProcess, sumWrites, writesSince } from './lib.ts';

const { values } = parseArgs({ options: {
  burst: { type: 'string', default: '1000' }, total: { type: 'string', default: '10000' }, 'per-tenant': { type: 'string', default: '5' },
  concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) }, rounds: { type: 'string', default: '5' }, 'pods-per-namespace': { type: 'string', default: '0' }, 'node-options': { type: 'string', default: deployedNodeOptions() }, 'operator-args': { type: 'string', default: '' },
  'burst-only': { type: 'boolean', default: false },
} });
const BURST = Number(values.burst);
const TOTAL = Number(values.total);
const PER_TENANT = Number(values['per-tenant']);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const PODS = Number(values['pods-per-namespace']);
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
// The floor's names: namespace i of round r, and its tenants (PER_TENANT namespaces each).
const FLOOR_TENANTS = Math.ceil(BURST / PER_TENANT);
const floorNsName = (r: number, i: number): string => `f-${run}-${r}-${i}`;
const floorTenantName = (r: number, k: number): string => `f-${run}-${r}-t${k}`;
const createNs = (name: string, labels: Record<string, string>) => c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'bench');
/** A TenantIsolation selecting the namespaces labelled `key: <its name>`. */
const applyTenant = (t: string, key = 'scale-tenant') => c.rest.apply<TenantIsolationObject>(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`, {
  apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: t }, spec: { namespaceSelector: { matchLabels: { [key]: t } } },
}, 'bench');

// Count namespaces whose three policies are stored, from a watch in this process. The same watch sees
// the floor's policies (the same label key, another value, which the operator ignores): both sides are
// timed by one observer, and the apiserver serves that observer the same events in both phases.
const FLOOR_MANAGER = 'bench-floor';
const seen = new Map<string, number>();
let isolatedCount = 0;
let floorStoredCount = 0;
const watch = await watchManagedPolicies(c.rest, (obj) => {
  const ns = obj.metadata.namespace;
  const floor = ns.startsWith(`f-${run}-`);
  if (!floor && !ns.startsWith(`s-${run}-`)) return;
  const n = (seen.get(ns) ?? 0) + 1;
  seen.set(ns, n);
  if (n === 3) { if (floor) floorStoredCount++; else isolatedCount++; }
}, `${LABEL_MANAGED_BY} in (${OPERATOR_NAME},${FLOOR_MANAGER})`);
// The operator's namespaces it has labelled isolated, from a watch here: the operator's side is done once
// every namespace holds its policies AND is labelled, as the floor's is once its label patches returned.
let labelledCount = 0;
const labelled = new Set<string>();
// add too: after a relist, a namespace labelled during the gap arrives as an add.
const seeLabelled = (ns: NamespaceObject): void => {
  const name = ns.metadata.name;
  if (name.startsWith(`s-${run}-`) && ns.metadata.labels?.[LABEL_ISOLATED] === 'true' && !labelled.has(name)) { labelled.add(name); labelledCount++; }
};
const nsWatch = new ResilientInformer<NamespaceObject>(c.rest, '/api/v1/namespaces', { add: seeLabelled, update: seeLabelled }, pino({ level: 'silent' }));
await nsWatch.start();
await nsWatch.waitForSync();
/** Until `isolated` namespaces hold their policies and `labelledTo` are labelled (counts since the start). */
const waitIsolated = async (isolated: number, labelledTo: number, timeoutMs: number) => {
  const d = Date.now() + timeoutMs;
  while ((isolatedCount < isolated || labelledCount < labelledTo) && Date.now() < d) await sleep(20);
  return isolatedCount >= isolated && labelledCount >= labelledTo;
};
// Writes that are not the operator's: the load's namespace creates, the controller-manager's per-namespace
// ServiceAccount and ConfigMap, and lease heartbeats.
const NOT_OPERATOR = /^(POST namespaces|POST serviceaccounts|POST configmaps|\S+ leases)$/;

let op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS], { dist: true, nodeOptions: NODE_OPTIONS });
try {
  const tenants = [...new Set(Array.from({ length: TOTAL }, (_, i) => tenantOf(i)))];
  // 1+2, ROUNDS times: a burst of BURST labelled namespaces for the operator, then the floor: a plain
  // client creating BURST labelled namespaces and writing the same policies (the final three per
  // namespace, as many writes as the operator needed, with the same labels and owner references), with
  // another managed-by value so the operator leaves them alone, then the one label patch per namespace
  // the operator makes once they are stored. On a 2-core machine
  // shared with etcd and the apiserver one phase can take twice as long as the next, so the ratio
  // reported is the median of the rounds (and the ratio of the totals beside it).
  const rounds: { operatorSeconds: number; floorSeconds: number; floorClientSeconds: number; ratio: number; allIsolated: boolean; policyWrites: number; floorPolicyWrites: number; reconciles: number; reconcilesByController: Record<string, number>; operatorWrites: Record<string, number>; operatorCpuSeconds: number; operatorThreadCpuSeconds: { main: number; v8Workers: number; other: number }; operatorPhaseMonotonicUs: [number, number]; apiserverCpuSeconds: number; floorApiserverCpuSeconds: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const ids = Array.from({ length: BURST }, (_, i) => r * BURST + i);
    await pool([...new Set(ids.map(tenantOf))], 16, (t) => applyTenant(t));
    // The floor's tenants are real objects too (selecting no namespace), so its policies can carry the
    // same owner references as the operator's: the floor writes the very same objects, but for the value
    // of the managed-by label (which keeps the operator away from them).
    const floorTenants = await Promise.all(Array.from({ length: FLOOR_TENANTS }, async (_, k) => {
      const p = parseTenant(await applyTenant(floorTenantName(r, k), 'bench-floor-tenant'));
      if (!p.ok) throw new Error(p.error);
      return p.tenant;
    }));
    await quiescent(c.rest, op);
    // Alternate which goes first, so neither side always meets the cluster a little larger or busier.
    const operatorPhase = async () => {
      const w0 = await apiserverPolicyWrites(c.rest);
      const all0 = await apiserverWrites(c.rest);
      const cpu0 = (await apiserverLoad(c.rest)).cpuSeconds;
      const m0 = await op.metrics();
      const threads0 = op.threadCpuSeconds();
      const before = isolatedCount;
      const labelledBefore = labelledCount;
      const t0 = performance.now();
      // On the monotonic clock V8's --cpu-prof uses too: a profile's samples inside the phase are these.
      const monotonicStartUs = Number(process.hrtime.bigint() / 1000n);
      await pool(ids, 32, (i) => createNs(nsName(i), { 'scale-tenant': tenantOf(i) }));
      const ok = await waitIsolated(before + BURST, labelledBefore + BURST, 300_000);
      const opSeconds = (performance.now() - t0) / 1000;
      // CPU spent until every namespace is isolated (what the time above is made of, on 2 shared cores).
      const apiserverCpuSeconds = round((await apiserverLoad(c.rest)).cpuSeconds - cpu0);
      const monotonicEndUs = Number(process.hrtime.bigint() / 1000n);
      const operatorCpuSeconds = round(counter(await op.metrics(), 'process_cpu_seconds_total') - counter(m0, 'process_cpu_seconds_total'));
      const threads1 = op.threadCpuSeconds();
      const operatorThreadCpuSeconds = { main: round(threads1.main - threads0.main), v8Workers: round(threads1.v8Workers - threads0.v8Workers), other: round(threads1.other - threads0.other) };
      await quiescent(c.rest, op); // trailing intra-tenant updates and status writes
      const opWrites = (await apiserverPolicyWrites(c.rest)) - w0;
      const m1 = await op.metrics();
      const reconciles = counter(m1, 'controller_runtime_reconcile_total') - counter(m0, 'controller_runtime_reconcile_total');
      // Where the reconciles and the writes go (every client's writes less the load's and the controller-manager's).
      const reconciled0 = countersBy(m0, 'controller_runtime_reconcile_total', 'controller');
      const reconcilesByController = Object.fromEntries(Object.entries(countersBy(m1, 'controller_runtime_reconcile_total', 'controller')).map(([k, v]) => [k, v - (reconciled0[k] ?? 0)]));
      const all1 = await apiserverWrites(c.rest);
      const operatorWrites = Object.fromEntries(Object.entries(writesSince(all0, all1)).filter(([k]) => !NOT_OPERATOR.test(k)));
      return { opSeconds, ok, opWrites, reconciles, reconcilesByController, operatorWrites, operatorCpuSeconds, operatorThreadCpuSeconds, operatorPhaseMonotonicUs: [monotonicStartUs, monotonicEndUs] as [number, number], apiserverCpuSeconds };
    };
    const floorPhase = async () => {
      const fw0 = await apiserverPolicyWrites(c.rest);
      const fcpu0 = (await apiserverLoad(c.rest)).cpuSeconds;
      const floorBefore = floorStoredCount;
      const f0 = performance.now();
      await pool(Array.from({ length: BURST }, (_, i) => i), 32, async (i) => {
        const ns = floorNsName(r, i);
        await createNs(ns, { 'scale-floor': floorTenantName(r, Math.floor(i / PER_TENANT)) });
        const first = i - (i % PER_TENANT);
        const members = Array.from({ length: PER_TENANT }, (_, j) => floorNsName(r, first + j));
        const t = floorTenants[Math.floor(i / PER_TENANT)]!;
        const writes = policiesToApply(planNamespace(ns, [t], () => members));
        // Created (POST), as the operator creates a policy that does not exist yet (policy-write.ts).
        await Promise.all(writes.map((p) => c.rest.create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
          { ...p, metadata: { ...p.metadata, name: floorPolicyName(p.metadata.name), labels: { ...p.metadata.labels, [LABEL_MANAGED_BY]: FLOOR_MANAGER } } }, 'floor')));
        // Then the namespace's labels, as the operator marks a namespace isolated and a member once its
        // policies are stored (the pod gate admits pods only then).
        await c.rest.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: floorNamespaceLabels(t.name) } }, 'floor');
      });
      const floorClientSeconds = (performance.now() - f0) / 1000;
      // Done when the observer has seen every floor policy stored, as for the operator.
      while (floorStoredCount < floorBefore + BURST) await sleep(20);
      const floorSeconds = (performance.now() - f0) / 1000;
      const floorApiserverCpuSeconds = round((await apiserverLoad(c.rest)).cpuSeconds - fcpu0);
      const floorWrites = (await apiserverPolicyWrites(c.rest)) - fw0;
      await quiescent(c.rest, op); // as the operator phase ends (the controller-manager's follow-up writes)
      return { floorSeconds, floorClientSeconds, floorWrites, floorApiserverCpuSeconds };
    };
    let o: Awaited<ReturnType<typeof operatorPhase>>;
    let f: Awaited<ReturnType<typeof floorPhase>>;
    if (r % 2 === 0) { o = await operatorPhase(); f = await floorPhase(); } else { f = await floorPhase(); o = await operatorPhase(); }
    const { opSeconds, ok, opWrites, reconciles, reconcilesByController, operatorWrites, operatorCpuSeconds, operatorThreadCpuSeconds, operatorPhaseMonotonicUs, apiserverCpuSeconds } = o;
    const { floorSeconds, floorClientSeconds, floorWrites, floorApiserverCpuSeconds } = f;
    rounds.push({ operatorSeconds: round(opSeconds), floorSeconds: round(floorSeconds), floorClientSeconds: round(floorClientSeconds), ratio: round(opSeconds / floorSeconds), allIsolated: ok, policyWrites: opWrites, floorPolicyWrites: floorWrites, reconciles, reconcilesByController, operatorWrites, operatorCpuSeconds, operatorThreadCpuSeconds, operatorPhaseMonotonicUs, apiserverCpuSeconds, floorApiserverCpuSeconds });
  }
  const byRatio = [...rounds].sort((a, b) => a.ratio - b.ratio);
  const median = byRatio[Math.floor(byRatio.length / 2)]!;
  const burst = {
    namespaces: BURST, rounds: ROUNDS, allIsolated: rounds.every((x) => x.allIsolated), namespacesPerTenant: PER_TENANT,
    operatorSeconds: median.operatorSeconds, plainClientFloorSeconds: median.floorSeconds, ratioToFloor: median.ratio,
    ratioRange: [byRatio[0]!.ratio, byRatio[byRatio.length - 1]!.ratio],
    ratioOfTotals: round(rounds.reduce((a, x) => a + x.operatorSeconds, 0) / rounds.reduce((a, x) => a + x.floorSeconds, 0)),
    policyWrites: median.policyWrites, floorPolicyWrites: median.floorPolicyWrites, writesPerNamespace: round(median.policyWrites / BURST),
    reconciles: median.reconciles, reconcilesPerSecond: round(median.reconciles / median.operatorSeconds, 1),
    eachRound: rounds,
  };
  // --burst-only: the bursts alone (a minute or two), for repeated same-run comparisons.
  if (values['burst-only']) {
    await nsWatch.stop();
    // The floor's namespaces and policies are still in the cluster (and in the operator's caches) here.
    console.log(JSON.stringify({ benchmark: 'scale', operatorConcurrency: CONCURRENCY, operatorNodeOptions: NODE_OPTIONS.join(' '), operatorArgs: OPERATOR_ARGS.join(' '), burst,
      rssMB: round(op.rssBytes() / 2 ** 20, 1), peakRssMB: round(op.peakRssBytes() / 2 ** 20, 1),
      rssWith: `${ROUNDS * BURST} namespaces of the operator's and ${ROUNDS * BURST} of the floor's`,
      targets: checkTargets([
        { target: 'burstRatioToFloor', measured: burst.ratioToFloor, limit: 1.3 },
        { target: 'allIsolated', measured: burst.allIsolated ? 0 : 1, limit: 0 },
      ]) }, null, 2));
  } else {
    // 3. No-op resync: restart (a full relist and reconcile of everything) with a 4 s resync; count writes.
    await op.stop();
    // Read before the start: the operator's workers start as soon as its caches sync, before it is ready.
    const r0 = await apiserverWrites(c.rest);
    op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '4', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS], { dist: true, nodeOptions: NODE_OPTIONS });
    // Everything reconciled twice (the start and a resync), then quiet.
    const keys = (await c.rest.get<{ items: unknown[] }>('/api/v1/namespaces')).items.length + (await c.rest.get<{ items: unknown[] }>('/apis/isolation.tenancy.dev/v1alpha1/tenantisolations')).items.length;
    for (const deadline = performance.now() + 300_000; counter(await op.metrics(), 'controller_runtime_reconcile_total') < 2 * keys; await sleep(250)) {
      if (performance.now() > deadline) throw new Error('the operator did not reconcile everything twice within 300 s');
    }
    await quiescent(c.rest, op);
    // Every write but lease heartbeats: policies, namespace labels, statuses and Events alike.
    const resyncWriteKeys = Object.fromEntries(Object.entries(writesSince(r0, await apiserverWrites(c.rest))).filter(([k]) => !/ leases$/.test(k)));
    const resyncWrites = sumWrites(resyncWriteKeys);
    const resyncReconciles = counter(await op.metrics(), 'controller_runtime_reconcile_total');

    // 4. Memory at TOTAL namespaces, with the operator as deployed (no short resync). The floor's
    // namespaces, policies and tenants go first: the proof caches every policy, so leaving them would
    // measure the operator at TOTAL + ROUNDS * BURST namespaces, not at TOTAL.
    await op.stop();
    const floorNs = Array.from({ length: ROUNDS * BURST }, (_, k) => floorNsName(Math.floor(k / BURST), k % BURST));
    const floorTenantNames = Array.from({ length: ROUNDS * FLOOR_TENANTS }, (_, k) => floorTenantName(Math.floor(k / FLOOR_TENANTS), k % FLOOR_TENANTS));
    const c0 = performance.now();
    await pool(floorTenantNames, 16, (t) => c.rest.delete(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`));
    await pool(floorNs, 32, (ns) => c.rest.delete(`/api/v1/namespaces/${ns}`));
    // Namespaces are gone once the controller-manager's namespace controller has emptied them (about
    // 6 per second here: 10 workers, each listing and deleting every namespaced resource type).
    const floorLeft = async () => (await c.rest.get<{ items: unknown[] }>('/api/v1/namespaces', { labelSelector: 'scale-floor', limit: 1 })).items.length > 0;
    for (const deadline = Date.now() + 1_800_000; await floorLeft(); await sleep(3000)) {
      if (Date.now() > deadline) throw new Error('floor namespaces still present after 30 minutes');
    }
    const floorCleanupSeconds = (performance.now() - c0) / 1000;
    op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS], { dist: true, nodeOptions: NODE_OPTIONS });
    await pool(tenants.slice(Math.ceil(ROUNDS * BURST / PER_TENANT)), 16, (t) => applyTenant(t));
    const g0 = performance.now();
    await pool(Array.from({ length: Math.max(0, TOTAL - ROUNDS * BURST) }, (_, k) => k + ROUNDS * BURST), 32, (i) => createNs(nsName(i), { 'scale-tenant': tenantOf(i) }));
    // Converged when the operator's own policies number 3 per namespace (counted by the apiserver, paged).
    const managedCount = async (): Promise<number> => {
      let n = 0; let cont: string | undefined;
      do {
        const page = await c.rest.get<{ items: unknown[]; metadata: { continue?: string } }>('/apis/networking.k8s.io/v1/networkpolicies', { labelSelector: MANAGED_SELECTOR, limit: 5000, continue: cont });
        n += page.items.length; cont = page.metadata.continue || undefined;
      } while (cont);
      return n;
    };
    let all = false;
    for (const deadline = Date.now() + 900_000; Date.now() < deadline;) { if ((await managedCount()) >= 3 * TOTAL) { all = true; break; } await sleep(3000); }
    const growSeconds = (performance.now() - g0) / 1000;
    // Pods, for the isolation proof's share (it analyses every pod): running ones, with an IP each.
    let pods = 0;
    await pool(Array.from({ length: TOTAL * PODS }, (_, k) => k), 32, async (k) => {
      const ns = nsName(Math.floor(k / PODS));
      const name = `web-${k % PODS}`;
      const ip = `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
      // The controller-manager creates each namespace's default ServiceAccount shortly after the namespace;
      // until then the ServiceAccount admission plugin refuses pods.
      for (let attempt = 0; ; attempt++) {
        try {
          await c.rest.create(`/api/v1/namespaces/${ns}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'web', shard: String(k % 3) } },
            spec: { containers: [{ name: 'web', image: 'registry.example/web:1', ports: [{ name: 'http', containerPort: 8080 }] }] } }, 'bench');
          break;
        } catch (e) {
          if (attempt > 50 || !(e instanceof Error && /serviceaccount/i.test(e.message))) throw e;
          await sleep(200);
        }
      }
      await c.rest.mergePatch(`/api/v1/namespaces/${ns}/pods/${name}/status`, { status: { podIP: ip, podIPs: [{ ip }] } }, 'bench');
      pods++;
    });
    await quiescent(c.rest, op); // status writes and GC settled
    const mem = await op.metrics();
    await watch.stop();
    await nsWatch.stop();
    console.log(JSON.stringify({
      benchmark: 'scale',
      kubernetes: 'v1.37.2 (local control plane, 2 cores shared by etcd, apiserver, operator and the load)',
      operatorConcurrency: CONCURRENCY,
      operatorNodeOptions: NODE_OPTIONS.join(' '),
      operatorArgs: OPERATOR_ARGS.join(' '),
      burst,
      noOpResync: { writes: resyncWrites, byVerbAndResource: resyncWriteKeys, reconciles: resyncReconciles, countedBy: 'apiserver_request_total, every write verb and resource but leases, from before the restart to quiescence' },
      at10k: {
        namespaces: TOTAL, pods, allIsolated: all, growSeconds: round(growSeconds), floorRemovedFirst: { namespaces: floorNs.length, tenants: floorTenantNames.length, seconds: round(floorCleanupSeconds) },
        rssMB: round(op.rssBytes() / 2 ** 20, 1),
        peakRssMB: round(op.peakRssBytes() / 2 ** 20, 1),
        heapUsedMB: round(counter(mem, 'nodejs_heap_size_used_bytes') / 2 ** 20, 1),
        managedPolicies: counter(mem, 'tenant_isolation_managed_policies'),
      },
      // Memory targets are bench/memory.ts's (a fresh control plane per size); the RSS above is reported only.
      targets: checkTargets([
        { target: 'burstRatioToFloor', measured: burst.ratioToFloor, limit: 1.3 },
        { target: 'noOpResyncWrites', measured: resyncWrites, limit: 0 },
        { target: 'allIsolated', measured: burst.allIsolated && all ? 0 : 1, limit: 0 },
      ]),
    }, null, 2));
  }
} finally {
  await op.stop();
  c.stop();
}
