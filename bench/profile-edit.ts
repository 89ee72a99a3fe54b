// Benchmark (not a test): one IsolationProfile edit that changes the policies of every namespace of every
// tenant using it, against a plain client making the same policy writes in the same run (the floor).
// Prints one JSON document.
//   node bench/profile-edit.ts [--tenants 200] [--per-tenant 5] [--rounds 5] [--concurrency 8] [--floor-concurrency 32]
//     [--floor-write replace|apply] [--operator-args=...]
// Setup: a profile with one allow entry, --tenants tenants inheriting from it, --per-tenant namespaces
// each (1 000 by default); the floor's namespaces hold the same policies, owned by real TenantIsolations
// that select no namespace, but for a floor-* name (bench/lib.ts floorPolicyName), another managed-by value
// and a non-controller ownerReference (a reserved name with a controller reference to a known tenant would
// be the operator's, and it would remove them). Each round edits the entry's port:
//   operator  apply the profile; done when a watch here has seen every namespace's allow-extra policy
//             carry the new port
//   floor     a plain client writes the same updated allow-extra policy in each floor namespace
//             (--floor-concurrency at a time: 32 as bench/scale.ts, or the operator's --concurrency for
//             the same requests in flight); done when the same watch has seen them all
// The floor makes the operator's requests: its policies are created with a POST, and each round replaces
// the allow-extra policy whole with a PUT guarded by the resourceVersion its watch last saw
// (--floor-write apply: applied from the start and in each round, server-side apply's cost instead).
// Rounds alternate which side goes first; the median ratio is reported. Each
// round counts the operator's reconciles (namespace and tenant keys its queues processed). A last phase makes an edit that
// changes no tenant's effective spec (mode: Enforce, already the default) and counts its writes (0).
// Every phase starts and ends at quiescence (bench/lib.ts quiescent): the operator's queues empty and no
// write to the apiserver for 2 s. Writes are the operator's own counter and the apiserver's.
import { parseArgs } from 'node:util';
import { parseTenant, type TenantIsolationObject } from '../src/api/schema.ts';
import { profileLookupOf } from '../src/api/profile.ts';
import { LABEL_MANAGED_BY, OPERATOR_NAME, POLICY_ALLOW_EXTRA } from '../src/policy/labels.ts';
import { planNamespace, policiesToApply } from '../src/policy/desired.ts';
import type { NetworkPolicy } from '../src/policy/types.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { policyPath } from '../src/controller/policy-write.ts';
import { pino } from 'pino';
import { apiserverLoad, apiserverPolicyWrites, apiserverWrites, checkTargets, cluster, counter, floorPolicyName, percentile, queueTimes, quiescent, round, sleep, startOperatorProcess, type OperatorProcess } from './lib.ts';

const { values } = parseArgs({ options: {
  tenants: { type: 'string', default: '200' }, 'per-tenant': { type: 'string', default: '5' }, rounds: { type: 'string', default: '5' },
  concurrency: { type: 'string', default: '8' }, 'floor-concurrency': { type: 'string', default: '32' }, 'operator-args': { type: 'string', default: '' },
  'floor-write': { type: 'string', default: 'replace' },
} });
const TENANTS = Number(values.tenants);
const PER_TENANT = Number(values['per-tenant']);
const NAMESPACES = TENANTS * PER_TENANT;
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const FLOOR_CONCURRENCY = Number(values['floor-concurrency']);
const OPERATOR_ARGS = values['operator-args'].split(' ').filter(Boolean);
const FLOOR_WRITE = values['floor-write'];
if (FLOOR_WRITE !== 'replace' && FLOOR_WRITE !== 'apply') throw new Error('--floor-write: replace or apply');
const run = Date.now().toString(36);
const API = '/apis/isolation.tenancy.dev/v1alpha1';
const FLOOR_MANAGER = 'bench-floor';
const PROFILE = `pe-${run}`;

const c = await cluster();

async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => { while (i < items.length) await fn(items[i++]!); }));
}
/** The profile's spec for a round: one named allow entry, on a port that changes with every edit. */
const profileSpec = (port: number, extra: Record<string, unknown> = {}) => ({
  ...extra, allow: { ingressFrom: [{ name: 'monitoring', namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, ports: [{ protocol: 'TCP', port }] }] },
});
const applyProfile = (spec: Record<string, unknown>) => c.rest.apply<{ metadata: { generation: number } }>(`${API}/isolationprofiles/${PROFILE}`,
  { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationProfile', metadata: { name: PROFILE }, spec }, 'bench');
const applyTenant = (name: string, spec: Record<string, unknown>) => c.rest.apply<TenantIsolationObject>(`${API}/tenantisolations/${name}`,
  { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name }, spec }, 'bench');
const createNs = (name: string, labels: Record<string, string>) => c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'bench');

const tenantName = (k: number): string => `pe-${run}-t${k}`;
const nsName = (k: number, j: number): string => `pe-${run}-t${k}-${j}`;
const floorTenantName = (k: number): string => `pf-${run}-t${k}`;
const floorNsName = (k: number, j: number): string => `pf-${run}-t${k}-${j}`;

// One watch sees both sides' allow-extra policies: the port each namespace's policy carries now.
const portOf = new Map<string, number>();
/** The resourceVersion of each floor namespace's allow-extra policy, for the floor's guarded replace. */
const floorVersionOf = new Map<string, string>();
const watch = new ResilientInformer<NetworkPolicy>(c.rest, '/apis/networking.k8s.io/v1/networkpolicies', {
  add: (p) => note(p), update: (p) => note(p),
}, pino({ level: 'silent' }), { labelSelector: `${LABEL_MANAGED_BY} in (${OPERATOR_NAME},${FLOOR_MANAGER})` });
function note(p: NetworkPolicy): void {
  if (p.metadata.name !== POLICY_ALLOW_EXTRA && p.metadata.name !== floorPolicyName(POLICY_ALLOW_EXTRA)) return;
  const port = p.spec.ingress?.[0]?.ports?.[0]?.port;
  if (typeof port === 'number') portOf.set(p.metadata.namespace, port);
  if (p.metadata.name === floorPolicyName(POLICY_ALLOW_EXTRA) && p.metadata.resourceVersion) floorVersionOf.set(p.metadata.namespace, p.metadata.resourceVersion);
}
await watch.start();
await watch.waitForSync();
const allCarry = (names: string[], port: number): boolean => names.every((n) => portOf.get(n) === port);
/** Waits until every namespace carries the port; returns when the first one did (ms after `since`), or undefined on timeout. */
const waitCarry = async (names: string[], port: number, since = performance.now(), timeoutMs = 600_000): Promise<number | undefined> => {
  const deadline = Date.now() + timeoutMs;
  let first: number | undefined;
  while (!allCarry(names, port)) {
    if (Date.now() > deadline) return undefined;
    if (first === undefined && names.some((n) => portOf.get(n) === port)) first = performance.now() - since;
    await sleep(5);
  }
  return first ?? performance.now() - since;
};

const opWrites = async (op: OperatorProcess): Promise<number> => counter(await op.metrics(), 'tenant_isolation_api_writes_total', { resource: /^networkpolicies$/ });

const op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--concurrency', String(CONCURRENCY), ...OPERATOR_ARGS]);
const out: Record<string, unknown> = { benchmark: 'profile-edit', tenants: TENANTS, namespacesPerTenant: PER_TENANT, namespaces: NAMESPACES, operatorConcurrency: CONCURRENCY, floorConcurrency: FLOOR_CONCURRENCY, floorWrite: FLOOR_WRITE, operatorArgs: OPERATOR_ARGS.join(' ') };
try {
  // Setup: the profile, the operator's tenants and namespaces; the floor's tenants (selecting nothing),
  // namespaces and their policies as the operator would write them.
  let port = 9000;
  let floorPort = 10000;
  await applyProfile(profileSpec(port));
  const ks = Array.from({ length: TENANTS }, (_, k) => k);
  const t0 = performance.now();
  await pool(ks, 16, (k) => applyTenant(tenantName(k), { profile: PROFILE, namespaceSelector: { matchLabels: { 'bench-profile-tenant': tenantName(k) } } }));
  const floorTenants = new Map<number, TenantIsolationObject>();
  await pool(ks, 16, async (k) => { floorTenants.set(k, await applyTenant(floorTenantName(k), { namespaceSelector: { matchLabels: { 'bench-profile-floor': floorTenantName(k) } } })); });
  const pairs = ks.flatMap((k) => Array.from({ length: PER_TENANT }, (_, j) => [k, j] as const));
  await pool(pairs, 32, ([k, j]) => createNs(nsName(k, j), { 'bench-profile-tenant': tenantName(k) }));
  /** The floor's policies for namespace j of tenant k, with the profile's entry on `p`: what the operator writes, but for the managed-by value, the controller flag and the name (lib.ts floorPolicyName). */
  const floorPolicies = (k: number, j: number, p: number): NetworkPolicy[] => {
    const obj = floorTenants.get(k)!;
    const parsed = parseTenant({ ...obj, spec: { ...(obj.spec as object), profile: PROFILE } }, profileLookupOf([{ metadata: { name: PROFILE, uid: '' }, spec: profileSpec(p) }]));
    if (!parsed.ok) throw new Error(parsed.error);
    const members = Array.from({ length: PER_TENANT }, (_, i) => floorNsName(k, i));
    return policiesToApply(planNamespace(floorNsName(k, j), [parsed.tenant], () => members))
      .map((pol) => ({ ...pol, metadata: { ...pol.metadata, name: floorPolicyName(pol.metadata.name), labels: { ...pol.metadata.labels, [LABEL_MANAGED_BY]: FLOOR_MANAGER }, ownerReferences: pol.metadata.ownerReferences?.map((r) => ({ ...r, controller: false })) } }));
  };
  const floorApply = (pol: NetworkPolicy) => c.rest.apply(policyPath(pol.metadata.namespace, pol.metadata.name), pol, 'floor');
  // The same request as the operator's: the whole policy, guarded by the resourceVersion last seen.
  const floorReplace = (pol: NetworkPolicy) => c.rest.update(policyPath(pol.metadata.namespace, pol.metadata.name),
    { ...pol, metadata: { ...pol.metadata, resourceVersion: floorVersionOf.get(pol.metadata.namespace) } }, 'floor');
  const floorWrite = FLOOR_WRITE === 'replace' ? floorReplace : floorApply;
  await pool(pairs, 32, async ([k, j]) => {
    await createNs(floorNsName(k, j), {});
    // Created as the operator creates its own (a POST), or applied (--floor-write apply).
    await Promise.all(floorPolicies(k, j, port).map((pol) => (FLOOR_WRITE === 'replace'
      ? c.rest.create(policyPath(pol.metadata.namespace), pol, 'floor')
      : floorApply(pol))));
  });
  const opNs = pairs.map(([k, j]) => nsName(k, j));
  const floorNs = pairs.map(([k, j]) => floorNsName(k, j));
  if (await waitCarry([...opNs, ...floorNs], port) === undefined) throw new Error('setup did not converge');
  out.setupSeconds = round((performance.now() - t0) / 1000);
  out.setupQuiescenceMs = await quiescent(c.rest, op, { quietMs: 2000 });

  const rounds: { operatorSeconds: number; operatorFirstWriteSeenMs: number; floorSeconds: number; ratio: number; operatorPolicyWrites: number; apiserverWritesOperator: number; floorPolicyWrites: number; quiescenceMs: number; operatorReconciles: { namespace: number; tenant: number };
    cpuSeconds: { operator: { apiserver: number; operator: number }; floor: { apiserver: number; client: number } }; operatorPhaseWrites: Record<string, number> }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const operatorPhase = async () => {
      port++;
      const w0 = await opWrites(op);
      const a0 = await apiserverPolicyWrites(c.rest);
      const m0 = await op.metrics();
      const cpu0 = (await apiserverLoad(c.rest)).cpuSeconds;
      const all0 = await apiserverWrites(c.rest);
      const s = performance.now();
      await applyProfile(profileSpec(port));
      const firstMs = await waitCarry(opNs, port, s);
      if (firstMs === undefined) throw new Error(`round ${r}: the operator did not update every namespace`);
      const seconds = (performance.now() - s) / 1000;
      // CPU until every policy is seen (what the time above is made of, on 2 shared cores).
      const cpu = { apiserver: round((await apiserverLoad(c.rest)).cpuSeconds - cpu0), operator: round(counter(await op.metrics(), 'process_cpu_seconds_total') - counter(m0, 'process_cpu_seconds_total')) };
      const quiescenceMs = await quiescent(c.rest, op, { quietMs: 2000 });
      const q = queueTimes(m0, await op.metrics());
      // Every write the edit caused, by verb and resource (the benchmark's own profile apply aside).
      const all1 = await apiserverWrites(c.rest);
      const allWrites = Object.fromEntries(Object.entries(all1).map(([k, v]): [string, number] => [k, v - (all0[k] ?? 0) - (k === 'APPLY isolationprofiles' ? 1 : 0)]).filter(([k, v]) => v > 0 && !/ leases$/.test(k)));
      return { seconds, firstMs, cpu, allWrites, writes: await opWrites(op) - w0, apiserver: await apiserverPolicyWrites(c.rest) - a0, quiescenceMs, reconciles: { namespace: q.namespace?.items ?? 0, tenant: q.tenantisolation?.items ?? 0 } };
    };
    const floorPhase = async () => {
      // Its own sequence, a new port every round: never equal to the operator's, and never the port its
      // policies already carry (an apply of what is stored writes nothing and no watch event comes).
      const p = ++floorPort;
      const a0 = await apiserverPolicyWrites(c.rest);
      const cpu0 = (await apiserverLoad(c.rest)).cpuSeconds;
      const client0 = process.cpuUsage();
      const s = performance.now();
      await pool(pairs, FLOOR_CONCURRENCY, ([k, j]) => floorWrite(floorPolicies(k, j, p).find((x) => x.metadata.name === floorPolicyName(POLICY_ALLOW_EXTRA))!));
      if (await waitCarry(floorNs, p) === undefined) throw new Error(`round ${r}: the floor's writes were not all seen`);
      const seconds = (performance.now() - s) / 1000;
      const used = process.cpuUsage(client0);
      // The benchmark process is the floor's client (and the watch both sides are timed by).
      const cpu = { apiserver: round((await apiserverLoad(c.rest)).cpuSeconds - cpu0), client: round((used.user + used.system) / 1e6) };
      const writes = await apiserverPolicyWrites(c.rest) - a0;
      await quiescent(c.rest, op, { quietMs: 2000 });
      return { seconds, writes, cpu };
    };
    let o: Awaited<ReturnType<typeof operatorPhase>>;
    let f: Awaited<ReturnType<typeof floorPhase>>;
    if (r % 2 === 0) { o = await operatorPhase(); f = await floorPhase(); } else { f = await floorPhase(); o = await operatorPhase(); }
    rounds.push({ operatorSeconds: round(o.seconds), operatorFirstWriteSeenMs: round(o.firstMs, 0), floorSeconds: round(f.seconds), ratio: round(o.seconds / f.seconds), operatorPolicyWrites: o.writes, apiserverWritesOperator: o.apiserver, floorPolicyWrites: f.writes, quiescenceMs: o.quiescenceMs, operatorReconciles: o.reconciles, cpuSeconds: { operator: o.cpu, floor: f.cpu }, operatorPhaseWrites: o.allWrites });
  }
  const byRatio = [...rounds].sort((a, b) => a.ratio - b.ratio);
  const median = byRatio[Math.floor(byRatio.length / 2)]!;
  out.edit = {
    namespacesChanged: NAMESPACES, neededWrites: NAMESPACES,
    operatorSeconds: median.operatorSeconds, plainClientFloorSeconds: median.floorSeconds, ratioToFloor: median.ratio,
    ratioRange: [byRatio[0]!.ratio, byRatio[byRatio.length - 1]!.ratio],
    ratioOfTotals: round(rounds.reduce((a, x) => a + x.operatorSeconds, 0) / rounds.reduce((a, x) => a + x.floorSeconds, 0)),
    operatorSecondsP50: round(percentile(rounds.map((x) => x.operatorSeconds), 50)),
    operatorPolicyWrites: median.operatorPolicyWrites, floorPolicyWrites: median.floorPolicyWrites,
    eachRound: rounds,
  };

  // An edit no tenant's effective spec reflects: the same entry, and the mode every tenant already has.
  const w0 = await opWrites(op);
  const a0 = await apiserverPolicyWrites(c.rest);
  const edited = await applyProfile(profileSpec(port, { mode: 'Enforce' }));
  // Barrier: the operator has seen it (the profile's status observes the generation).
  for (;;) {
    const s = await c.rest.get<{ status?: { observedGeneration?: number } }>(`${API}/isolationprofiles/${PROFILE}`);
    if (s.status?.observedGeneration === edited.metadata.generation) break;
    await sleep(20);
  }
  await quiescent(c.rest, op, { quietMs: 2000 });
  out.noOpEdit = { operatorPolicyWrites: await opWrites(op) - w0, apiserverPolicyWrites: await apiserverPolicyWrites(c.rest) - a0 };
  // Exactly the needed writes: no more (here), no fewer (waitCarry above throws if a namespace was missed).
  out.targets = checkTargets([
    { target: 'ratioToFloor', measured: median.ratio, limit: 1.3 },
    { target: 'operatorPolicyWrites', measured: median.operatorPolicyWrites, limit: NAMESPACES },
    { target: 'noOpEditWrites', measured: (out.noOpEdit as { apiserverPolicyWrites: number }).apiserverPolicyWrites, limit: 0 },
  ]);
} finally {
  await watch.stop();
  await op.stop();
  c.stop();
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
