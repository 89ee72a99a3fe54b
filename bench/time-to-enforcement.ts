// Benchmark (not a test): time from creating a tenant's namespace to the first refused cross-tenant
// packet on a real dataplane (kube-router enforcing between network-namespace pods), beside the time to
// the stored policies in the same run. Needs root and what `bash hack/dataplane.sh check` asks for.
// Prints one JSON document.
//   node bench/time-to-enforcement.ts [--samples 40]
//
// Per sample: create namespace N (labelled into tenant "target") and at once its pod, as a kubelet would
// report it, then probe N's pod on TCP/80 every few milliseconds from a pod of tenant "source", whose
// tenant denies ingress but not egress (a tenant with egress deny refuses its own cross-tenant packets
// from the first moment, so the window exists only for sources without egress isolation).
//   time-to-stored-policy: namespace created -> a watch here has seen N's three managed policies.
//   time-to-enforcement:   namespace created -> the first refused probe (every later probe is refused).
import { parseArgs } from 'node:util';
import { Dataplane } from '../test/harness/dataplane.ts';
import { cluster, percentile, round, sleep, startOperatorProcess, watchManagedPolicies } from './lib.ts';

const { values } = parseArgs({ options: { samples: { type: 'string', default: '40' } } });
const samples = Number(values.samples);
const run = Date.now().toString(36);
const PORT = { protocol: 'TCP' as const, port: 80 };

const c = await cluster();
const op = await startOperatorProcess(c.kubeconfig, ['--resync-period', '0']);
const dp = await Dataplane.start(c.kubeconfig);
const watch = { stored: new Map<string, Set<string>>(), at: new Map<string, number>() };
const policyWatch = await watchManagedPolicies(c.rest, (p) => {
  const ns = p.metadata.namespace;
  if (!ns.startsWith(`tte-${run}-`)) return;
  const s = watch.stored.get(ns) ?? new Set<string>();
  s.add(p.metadata.name);
  watch.stored.set(ns, s);
  if (s.size === 3 && !watch.at.has(ns)) watch.at.set(ns, performance.now());
});
const [target, source] = [`tte-${run}-target`, `tte-${run}-source`];
try {
  const tenant = (name: string, spec: Record<string, unknown>): Promise<unknown> => c.rest.apply(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${name}`, {
    apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name }, spec,
  }, 'bench');
  await tenant(target, { namespaceSelector: { matchLabels: { 'tte-tenant': target } } });
  await tenant(source, { namespaceSelector: { matchLabels: { 'tte-tenant': source } }, defaultDeny: { ingress: true, egress: false } });
  const srcNs = `tte-${run}-src`;
  await c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: srcNs, labels: { 'tte-tenant': source } } }, 'bench');
  const src = await dp.addPod({ namespace: srcNs, name: 'client', labels: { app: 'client' }, listen: [PORT] });
  const slot = await dp.addSlot([PORT]);

  const stored: number[] = [], enforced: number[] = [], gap: number[] = [];
  let openFirst = 0;
  for (let i = 0; i < samples; i++) {
    const ns = `tte-${run}-n${i}`;
    const t0 = performance.now();
    await c.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'tte-tenant': target } } }, 'bench');
    const pod = await dp.attachPod({ namespace: ns, name: 'server', labels: { app: 'server' } }, slot);
    let first: string | undefined;
    let refusedAt: number | undefined;
    const deadline = t0 + 30_000;
    while (refusedAt === undefined) {
      const m = await dp.probe([src.key], [pod.key], [PORT], 1_000);
      if (m.odd.length > 0) throw new Error(`sample ${i}: ${m.odd.join(', ')}`);
      const open = m.allowed['TCP/80']!.length > 0;
      first ??= open ? 'open' : 'refused';
      if (!open) refusedAt = performance.now();
      else if (performance.now() > deadline) throw new Error(`sample ${i}: still open after 30 s`);
    }
    // Refusal must be final: a later probe that opens again would mean we measured a transient.
    for (let k = 0; k < 3; k++) if ((await dp.probe([src.key], [pod.key], [PORT])).allowed['TCP/80']!.length > 0) throw new Error(`sample ${i}: open again after the first refusal`);
    while (!watch.at.has(ns)) { if (performance.now() > deadline) throw new Error(`sample ${i}: policies not stored`); await sleep(5); }
    if (first === 'open') openFirst++;
    stored.push(watch.at.get(ns)! - t0);
    enforced.push(refusedAt - t0);
    gap.push(refusedAt - watch.at.get(ns)!);
    await dp.detachPod(pod.key);
    await c.rest.delete(`/api/v1/namespaces/${ns}`);
    // The next sample reuses the address: until kube-router has dropped this pod's chain, a probe of the
    // next pod would be refused by this one's policies (seen: a refusal, then open, then refused).
    await dp.sync();
  }
  const stats = (xs: number[]): { p50: number; p99: number; max: number } => ({ p50: round(percentile(xs, 50), 1), p99: round(percentile(xs, 99), 1), max: round(Math.max(...xs), 1) });
  process.stdout.write(`${JSON.stringify({
    samples, dataplane: 'kube-router v2.1.0 (iptables + ipset), one node', probe: 'TCP/80 from a tenant pod without egress deny',
    timeToStoredPolicyMs: stats(stored), timeToEnforcementMs: stats(enforced), enforcementAfterStoredMs: stats(gap),
    samplesOpenAtFirstProbe: openFirst,
  }, null, 2)}\n`);
  for (const t of [target, source]) await c.rest.delete(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`);
} finally {
  await policyWatch.stop();
  await dp.stop();
  await op.stop();
  c.stop();
}
