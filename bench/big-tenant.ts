// Benchmark (not a test): one big tenant. A burst of `--namespaces` namespaces into ONE tenant, against
// the plain-client floor (bench/floor-client.ts) isolating the same objects in the same run, in
// `--rounds` alternating rounds (a new tenant each round); then `--joins` single joins into the last
// round's tenant, each counted by the apiserver, every resource. Prints one JSON document.
//   node bench/big-tenant.ts [--namespaces 1000] [--rounds 3] [--joins 10] [--concurrency 16]
//                            [--operator-args '...'] [--node-options '...']
// A burst is timed from its first namespace create to the moment a watch here has seen every namespace's
// policies stored and its labels written (each side's own); the same watch times the floor. Every phase
// starts and ends at quiescence (lib.ts quiescent()), so its writes (apiserver_request_total) are all the
// writes it caused. The operator runs as a separate process with the Deployment's NODE_OPTIONS unless
// --node-options says otherwise.
import { parseArgs } from 'node:util';
import { DEFAULT_CONCURRENCY } from '../src/cli/flags.ts';
import { pino } from 'pino';
import { ResilientInformer } from '../src/kube/informer.ts';
import { LABEL_ISOLATED, LABEL_MEMBER_OF } from '../src/policy/labels.ts';
import type { NamespaceObject } from '../src/policy/types.ts';
import {
  apiserverLoad, apiserverWrites, applyTenant, checkTargets, cluster, loadSince, counter, createFloorTenants, deployedNodeOptions, floorNamespaceLabels, peerModeOf, pool, quiescent, round, sleep,
  startFloorClient, startOperatorProcess, stats, sumWrites, watchIsolations, writesSince,
} from './lib.ts';

const { values } = parseArgs({ options: {
  namespaces: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '3' }, joins: { type: 'string', default: '10' },
  concurrency: { type: 'string', default: String(DEFAULT_CONCURRENCY) }, 'operator-args': { type: 'string', default: '' }, 'node-options': { type: 'string', default: deployedNodeOptions() },
} });
const N = Number(values.namespaces);
const ROUNDS = Number(values.rounds);
const JOINS = Number(values.joins);
for (const [flag, v] of [['--namespaces', N], ['--rounds', ROUNDS], ['--joins', JOINS]] as const) {
  if (!Number.isInteger(v) || v < 0 || (flag !== '--joins' && v === 0)) throw new Error(`${flag}: a positive whole number`);
}
const OPERATOR_ARGS = values['operator-args'].split(' ').filter(Boolean);
const NODE_OPTIONS = values['node-options'].split(' ').filter(Boolean);
const run = Date.now().toString(36);
const KEY = 'bench-big-tenant';
const FLOOR_KEY = 'bench-big-floor';
/** Concurrent namespace creates in a burst, as a client creating them "as fast as it can". */
const CREATORS = 32;

const c = await cluster();
const op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', values.concurrency, ...OPERATOR_ARGS], { nodeOptions: NODE_OPTIONS });
const isolations = await watchIsolations(c.rest, `bt-${run}-`);
// Each side's labels on each namespace (the operator's, or the floor's own keys), from a watch here: a
// namespace is finished once its policies are stored and it is labelled, for both sides alike.
const labelled = new Map<string, number>();
const FLOOR_LABELS = Object.keys(floorNamespaceLabels(''));
const nsWatch = new ResilientInformer<NamespaceObject>(c.rest, '/api/v1/namespaces', {
  update: (ns) => {
    const l = ns.metadata.labels ?? {};
    const operators = l[LABEL_ISOLATED] === 'true' && l[LABEL_MEMBER_OF] !== undefined;
    const floors = FLOOR_LABELS.every((k) => l[k] !== undefined);
    if (ns.metadata.name.startsWith(`bt-${run}-`) && (operators || floors) && !labelled.has(ns.metadata.name)) labelled.set(ns.metadata.name, performance.now());
  },
}, pino({ level: 'silent' }));
await nsWatch.start();
await nsWatch.waitForSync();
const createNs = (name: string, labels: Record<string, string>): Promise<unknown> =>
  c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'bench');
const cpuSeconds = async (): Promise<number> => counter(await op.metrics(), 'process_cpu_seconds_total');

try {
  const opTenants = Array.from({ length: ROUNDS }, (_, r) => `bt-${run}-t${r}`);
  const floorTenants = Array.from({ length: ROUNDS }, (_, r) => `bt-${run}-f${r}`);
  for (const t of opTenants) await applyTenant(c.rest, t, KEY);
  await createFloorTenants(c.rest, floorTenants);
  const setupQuiescenceMs = await quiescent(c.rest, op);
  const peers = await peerModeOf(c.rest, opTenants);
  const floor = await startFloorClient(c.kubeconfig, FLOOR_KEY, `bt-${run}-f`, peers);

  // 1. Bursts: all N namespaces created by CREATORS concurrent requests; done when all are isolated.
  type Side = 'operator' | 'floor';
  const burst = async (side: Side, r: number) => {
    const names = Array.from({ length: N }, (_, i) => `bt-${run}-${side === 'operator' ? 'o' : 'f'}${r}-${i}`);
    const labels: Record<string, string> = side === 'operator' ? { [KEY]: opTenants[r]! } : { [FLOOR_KEY]: floorTenants[r]! };
    const w0 = await apiserverWrites(c.rest);
    const cpu0 = await cpuSeconds();
    const load0 = await apiserverLoad(c.rest);
    const t0 = performance.now();
    await pool(names, CREATORS, (ns) => createNs(ns, labels));
    const createdSeconds = (performance.now() - t0) / 1000;
    const all = await isolations.waitFor(names, 600_000);
    const isolatedSeconds = (performance.now() - t0) / 1000;
    // Each side labels a namespace once its policies are stored (the operator's pod gate admits pods only
    // then). A side that sends every policy first and the labels after has isolated sooner but is not done:
    // a burst is finished when every namespace is labelled too, on both sides.
    while (!names.every((n) => labelled.has(n)) && performance.now() - t0 < 600_000) await sleep(50);
    const labelledSeconds = (Math.max(...names.map((n) => labelled.get(n) ?? Infinity)) - t0) / 1000;
    // The apiserver's share, up to the end of the burst (the quiescence wait reads its metrics often).
    const apiserver = loadSince(load0, await apiserverLoad(c.rest));
    const quiescenceMs = await quiescent(c.rest, op);
    const writes = writesSince(w0, await apiserverWrites(c.rest));
    return {
      // Finished means labelled too: a side whose labels never came has not finished (and its time is Infinity).
      side, round: r, allIsolated: all && names.every((n) => labelled.has(n)), createdSeconds: round(createdSeconds), isolatedSeconds: round(isolatedSeconds),
      labelledSeconds: round(labelledSeconds), finishedSeconds: round(Math.max(isolatedSeconds, labelledSeconds)),
      quiescenceMs, operatorCpuSeconds: round((await cpuSeconds()) - cpu0), apiserver, policyWritesPerNamespace: round(sumWrites(writes, /^networkpolicies$/) / N, 3), writes,
    };
  };
  const rounds: { operator: Awaited<ReturnType<typeof burst>>; floor: Awaited<ReturnType<typeof burst>>; ratio: number; policiesOnlyRatio: number }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which side goes first, so neither always meets the cluster a little larger or busier.
    const first = await burst(r % 2 === 0 ? 'operator' : 'floor', r);
    const second = await burst(r % 2 === 0 ? 'floor' : 'operator', r);
    const [o, f] = first.side === 'operator' ? [first, second] : [second, first];
    // A side that never finished has no ratio (NaN: checkTargets counts it as missed, never as a fast round).
    const ratio = (a: number, b: number): number => (Number.isFinite(a) && Number.isFinite(b) ? round(a / b) : Number.NaN);
    rounds.push({ operator: o, floor: f, ratio: ratio(o.finishedSeconds, f.finishedSeconds), policiesOnlyRatio: ratio(o.isolatedSeconds, f.isolatedSeconds) });
  }
  await floor.stop();
  const byRatio = [...rounds].sort((a, b) => a.ratio - b.ratio);
  const median = byRatio[Math.floor(byRatio.length / 2)]!;

  // 2. Single joins into the last round's tenant (N members), each between two quiescent points.
  const big = opTenants[ROUNDS - 1]!;
  const joins: { isolatedMs: number; labelledMs: number; quiescenceMs: number; writes: Record<string, number> }[] = [];
  for (let j = 0; j < JOINS; j++) {
    const ns = `bt-${run}-join${j}`;
    const w0 = await apiserverWrites(c.rest);
    const t0 = performance.now();
    await createNs(ns, { [KEY]: big });
    await isolations.waitFor([ns], 60_000);
    while (!labelled.has(ns) && performance.now() - t0 < 60_000) await sleep(5);
    const quiescenceMs = await quiescent(c.rest, op);
    joins.push({ isolatedMs: round(isolations.at.get(ns)! - t0), labelledMs: round(labelled.get(ns)! - t0), quiescenceMs, writes: writesSince(w0, await apiserverWrites(c.rest)) });
  }
  // What a join writes, apart from the benchmark's own namespace create and what the controller-manager
  // writes for every new namespace (its default ServiceAccount and the kube-root-ca.crt ConfigMap).
  const notOperator = /^(POST namespaces|POST serviceaccounts|POST configmaps|\S+ leases)$/;
  const perJoin: Record<string, number> = {};
  for (const j of joins) for (const [k, v] of Object.entries(j.writes)) perJoin[k] = (perJoin[k] ?? 0) + v / Math.max(1, JOINS);
  const operatorPerJoin = Object.fromEntries(Object.entries(perJoin).filter(([k]) => !notOperator.test(k)).map(([k, v]) => [k, round(v, 2)]));
  const summary = (s: Side) => stats(rounds.map((x) => x[s].finishedSeconds));

  console.log(JSON.stringify({
    benchmark: 'big-tenant',
    kubernetes: 'v1.37.2 (local control plane, 2 cores shared by etcd, apiserver, controller-manager, operator and the load)',
    namespacesPerBurst: N, rounds: ROUNDS, intraTenantPeers: peers, concurrency: Number(values.concurrency),
    operatorArgs: OPERATOR_ARGS.join(' '), operatorNodeOptions: NODE_OPTIONS.join(' '), setupQuiescenceMs,
    burst: {
      allIsolated: rounds.every((x) => x.operator.allIsolated && x.floor.allIsolated),
      measuredTo: 'finished: every policy stored and every namespace labelled (each side its own labels)',
      operatorSeconds: median.operator.finishedSeconds, floorSeconds: median.floor.finishedSeconds, ratioToFloor: median.ratio,
      ratioRange: [byRatio[0]!.ratio, byRatio.at(-1)!.ratio],
      ratioOfTotals: round(rounds.reduce((a, x) => a + x.operator.finishedSeconds, 0) / rounds.reduce((a, x) => a + x.floor.finishedSeconds, 0)),
      policiesOnlyRatios: rounds.map((x) => x.policiesOnlyRatio),
      operatorSecondsAll: summary('operator'), floorSecondsAll: summary('floor'),
      eachRound: rounds,
    },
    joins: {
      into: `a tenant of ${N} namespaces`, count: JOINS,
      isolatedMs: stats(joins.map((j) => j.isolatedMs)), labelledMs: stats(joins.map((j) => j.labelledMs)),
      writesPerJoin: Object.fromEntries(Object.entries(perJoin).map(([k, v]) => [k, round(v, 2)])),
      operatorWritesPerJoin: operatorPerJoin,
      operatorWritesPerJoinTotal: round(Object.values(operatorPerJoin).reduce((a, b) => a + b, 0), 2),
      countedBy: 'apiserver_request_total between quiescent points, every write verb and resource; the operator\'s = all but the benchmark\'s namespace create, the controller-manager\'s ServiceAccount and ConfigMap, and lease heartbeats',
      each: joins,
    },
    targets: checkTargets([
      { target: 'burstRatioToFloor', measured: median.ratio, limit: 1.3 },
      ...(JOINS > 0 ? [{ target: 'operatorWritesPerJoin', measured: round(Object.values(operatorPerJoin).reduce((a, b) => a + b, 0), 2), limit: 4 }] : []),
      { target: 'allIsolated', measured: rounds.filter((x) => !x.operator.allIsolated || !x.floor.allIsolated).length, limit: 0 },
    ]),
  }, null, 2));
} finally {
  await nsWatch.stop();
  await isolations.stop();
  await op.stop();
  c.stop();
}
