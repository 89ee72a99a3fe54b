// Benchmark (not a test): what the admission gate costs a pod, and how soon a pod can start in a new
// tenant namespace. Prints one JSON document.
//   node bench/pod-gate.ts [--tenants 100] [--pods 200] [--rounds 4] [--namespaces 40]
// Phase 1 (latency): pod-creation round trips with the gate installed and removed, alternating rounds in
// one run, in a tenant namespace that holds its default-deny (the gate evaluates and admits) and in a
// namespace of no tenant (no binding matches). The --tenants tenants all select by one label key, so they
// share one pod-gate binding whose selector lists their values (src/controller/gate-bindings.ts).
// Phase 2 (first pod): from the request creating a labelled namespace to the first pod admitted in it,
// retrying as a ReplicaSet would, beside the time until a watch here saw its policies stored and the same
// first-pod time in a namespace of no tenant (the ServiceAccount admission plugin also waits for the
// namespace's default ServiceAccount).
// Every phase starts at quiescence (bench/lib.ts quiescent): the operator's queues empty and no write to the apiserver for 2 s.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError } from '../src/kube/rest.ts';
import { checkTargets, cluster, percentile, quiescent, repo, round, startOperatorProcess, watchManagedPolicies } from './lib.ts';

const { values } = parseArgs({ options: {
  tenants: { type: 'string', default: '100' }, pods: { type: 'string', default: '200' }, rounds: { type: 'string', default: '4' }, namespaces: { type: 'string', default: '40' },
} });
const TENANTS = Number(values.tenants);
const PODS = Number(values.pods);
const ROUNDS = Number(values.rounds);
const NAMESPACES = Number(values.namespaces);
const run = Date.now().toString(36);
const TI = '/apis/isolation.tenancy.dev/v1alpha1/tenantisolations';

const c = await cluster();
const kubectl = (...args: string[]): string => execFileSync(c.kubectl, ['--kubeconfig', c.kubeconfig, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const gateOn = (): void => { kubectl('apply', '--server-side', '-k', join(repo, 'config/admission')); };
const gateOff = (): void => { kubectl('delete', '--ignore-not-found', '-k', join(repo, 'config/admission')); };

const createNs = (name: string, labels: Record<string, string> = {}): Promise<unknown> => c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'bench');
const pod = (name: string): object => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'registry.invalid/c:1' }] } });
const createPod = (ns: string, name: string): Promise<unknown> => c.rest.create(`/api/v1/namespaces/${ns}/pods`, pod(name), 'bench');
/**
 * Retries while the apiserver refuses (the gate, or no default ServiceAccount yet); resolves on success.
 * With a short doubling pause (2 ms, at most 10 ms): back-to-back retries would load the apiserver the
 * operator is writing through, and a longer pause would blur the time measured (at 50 ms every first pod
 * came at about 100 ms).
 */
async function firstPod(ns: string, name: string): Promise<void> {
  for (let pause = 2; ; pause = Math.min(10, pause * 2)) {
    try { await createPod(ns, name); return; } catch (e) { if (!(e instanceof ApiError) || (e.status !== 403 && e.status !== 422)) throw e; }
    await new Promise((r) => setTimeout(r, pause));
  }
}


const stats = (xs: number[]) => ({ n: xs.length, p50: round(percentile(xs, 50)), p99: round(percentile(xs, 99)) });

gateOn();
const op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0', '--metrics-secure=false']);
const out: Record<string, unknown> = { tenants: TENANTS, podsPerSample: PODS, rounds: ROUNDS };
try {
  // Tenants selecting by one label key; the first one's namespace is where gated pods are created.
  for (let i = 0; i < TENANTS; i++) {
    await c.rest.apply(`${TI}/b${run}-t${i}`, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: `b${run}-t${i}` },
      spec: { namespaceSelector: { matchLabels: { 'bench-tenant': `b${run}-t${i}` } } } }, 'bench');
  }
  const tenantNs = `b${run}-gated`;
  const plainNs = `b${run}-plain`;
  await createNs(tenantNs, { 'bench-tenant': `b${run}-t0` });
  await createNs(plainNs);
  await firstPod(tenantNs, 'warm'); await firstPod(plainNs, 'warm');
  out.setupQuiescenceMs = await quiescent(c.rest, op, { quietMs: 2000 });
  // The gate's bindings: tenants selecting by one label key share one (src/controller/gate-bindings.ts).
  out.podGateBindings = kubectl('get', 'validatingadmissionpolicybindings', '-o', 'name').split('\n').filter((l) => l.includes('/tenant-isolation-pod-gate.')).length;
  // A namespace bound to the pod gate by a binding of the benchmark's own, which no default-deny will
  // ever satisfy: whether a pod is refused there says whether the gate is in force.
  const probeNs = `b${run}-probe`;
  await createNs(probeNs, { 'bench-probe': run });
  await c.rest.apply(`/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/bench-probe-${run}`, {
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: `bench-probe-${run}` },
    spec: { policyName: 'tenant-isolation-pod-gate', paramRef: { name: 'tenant-isolation-default-deny', parameterNotFoundAction: 'Deny' },
      matchResources: { namespaceSelector: { matchLabels: { 'bench-probe': run } } }, validationActions: ['Deny'] },
  }, 'bench');
  while (!await c.rest.get(`/api/v1/namespaces/${probeNs}/serviceaccounts/default`).then(() => true, () => false)) await new Promise((r) => setTimeout(r, 50));
  let probes = 0;
  const gateInForce = async (on: boolean): Promise<void> => {
    for (;;) {
      const refused = await createPod(probeNs, `probe-${probes++}`).then(() => false, (e: unknown) => e instanceof ApiError && e.message.includes('tenant-isolation-pod-gate'));
      if (refused === on) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  // Phase 1: alternate rounds, gate on / off, the same namespaces and pod counts.
  const lat: Record<'gatedTenantNs' | 'gatedPlainNs' | 'noGateTenantNs' | 'noGatePlainNs', number[]> = { gatedTenantNs: [], gatedPlainNs: [], noGateTenantNs: [], noGatePlainNs: [] };
  let k = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const on of r % 2 === 0 ? [true, false] : [false, true]) {
      if (on) gateOn(); else gateOff();
      // Barrier: the apiserver enforces (or no longer enforces) the gate: the probe namespace, bound to
      // the pod gate and never isolated, refuses a pod exactly while the gate is in force.
      await gateInForce(on);
      await quiescent(c.rest, op, { quietMs: 2000 });
      for (const [ns, key] of [[tenantNs, on ? 'gatedTenantNs' : 'noGateTenantNs'], [plainNs, on ? 'gatedPlainNs' : 'noGatePlainNs']] as const) {
        for (let i = 0; i < PODS; i++) {
          const t0 = performance.now();
          await createPod(ns, `p${k++}`);
          lat[key].push(performance.now() - t0);
        }
      }
    }
  }
  gateOn();
  const s = Object.fromEntries(Object.entries(lat).map(([key, xs]) => [key, stats(xs)])) as Record<keyof typeof lat, ReturnType<typeof stats>>;
  out.podCreateMs = s;
  out.gateAddsMs = { tenantNsP50: round(s.gatedTenantNs.p50 - s.noGateTenantNs.p50), plainNsP50: round(s.gatedPlainNs.p50 - s.noGatePlainNs.p50) };
  out.ratioToNoGate = { tenantNsP50: round(s.gatedTenantNs.p50 / s.noGateTenantNs.p50), tenantNsP99: round(s.gatedTenantNs.p99 / s.noGateTenantNs.p99) };
  out.targets = checkTargets([{ target: 'gateAddsTenantNsP50Ms', measured: (out.gateAddsMs as { tenantNsP50: number }).tenantNsP50, limit: 2 }]);

  // Phase 2: new namespaces, first pod.
  out.phase2QuiescenceMs = await quiescent(c.rest, op, { quietMs: 2000 });
  const stored = new Map<string, number>();
  const seen = new Map<string, Set<string>>();
  const watch = await watchManagedPolicies(c.rest, (p) => {
    if (!p.metadata.namespace.startsWith(`b${run}-new-`)) return;
    const names = seen.get(p.metadata.namespace) ?? new Set();
    names.add(p.metadata.name);
    seen.set(p.metadata.namespace, names);
    if (names.size === 3 && !stored.has(p.metadata.namespace)) stored.set(p.metadata.namespace, performance.now());
  });
  const toFirstPod: number[] = [];
  const toStored: number[] = [];
  const plainFirstPod: number[] = [];
  for (let i = 0; i < NAMESPACES; i++) {
    const ns = `b${run}-new-${i}`;
    const t0 = performance.now();
    await createNs(ns, { 'bench-tenant': `b${run}-t${i % TENANTS}` });
    await firstPod(ns, 'first');
    toFirstPod.push(performance.now() - t0);
    while (!stored.has(ns)) await new Promise((r) => setTimeout(r, 5));
    toStored.push(stored.get(ns)! - t0);
    const plain = `b${run}-newplain-${i}`;
    const t1 = performance.now();
    await createNs(plain);
    await firstPod(plain, 'first');
    plainFirstPod.push(performance.now() - t1);
  }
  await watch.stop();
  out.newNamespace = { toPoliciesStoredMs: stats(toStored), toFirstPodAdmittedMs: stats(toFirstPod), noTenantToFirstPodMs: stats(plainFirstPod) };
} finally {
  await op.stop();
  gateOn();
  c.stop();
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
