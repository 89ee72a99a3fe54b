// A bounded chaos run: cycles of random churn with one fault injected in the middle, then a quiet point
// where the invariant checker runs until the cluster is right again (or a time limit says it is not).
// A record of every stored version (history.ts) runs from before the first replica; at the end, every pod
// the churn got admitted is judged against it (admission.ts), and so is every namespace label the operator
// wrote (labels.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { RestClient } from '../../src/kube/rest.ts';
import { apiserverWrites, percentile, sumWrites } from '../lib.ts';
import { judgeAdmissions, type AdmissionCounts } from './admission.ts';
import { BREAK_GLASS_ANNOTATION, Churn } from './churn.ts';
import { FAULT_KINDS, Faults, Replicas, type FaultKind, type Lease } from './faults.ts';
import { History, markedWrites } from './history.ts';
import { judgeLabels, noLabelCounts, type LabelCounts } from './labels.ts';
import { checkInvariants } from './invariants.ts';
import { Random } from './random.ts';

const repo = resolve(import.meta.dirname, '../..');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ChaosOptions {
  /** Admin kubeconfig: churn and checks. */
  kubeconfig: string;
  /** What the operator replicas use (default: kubeconfig). */
  operatorKubeconfig?: string;
  /** Where the replicas' Lease lives (default: default). */
  leaseNamespace?: string;
  /** The hack/local-cluster.sh directory of that cluster (pids, ports, restart). */
  clusterDir: string;
  durationMs: number;
  seed: number;
  lease: Lease;
  /** How long a quiet point may take to converge before its violations count (default 120 s). */
  convergeTimeoutMs?: number;
  /** Fault kinds to use (default all). */
  kinds?: readonly FaultKind[];
  progress?: (line: string) => void;
  /** The replicas' --log-level (default warn: their logs are kept only when a violation needs explaining). */
  replicaLogLevel?: string;
}

export interface ChaosReport {
  seed: number;
  durationSeconds: number;
  cycles: number;
  faults: { total: number; byKind: Record<string, number>; skippedNoLeader: number };
  invariantChecks: number;
  /** The most enforcing tenants seen in MembershipLabel mode at one quiet point. */
  membershipLabelTenants: number;
  /** Every admitted pod judged against the record (admission.ts); `gate`: whether the pod gate is installed. */
  admission: { gate: boolean; checks: number; violations: number; watchRestarts: number; gaps: number } & AdmissionCounts;
  /** The operator's namespace labels judged against the record (labels.ts). */
  labels: { checks: number; violations: number } & LabelCounts;
  violations: number;
  violationSamples: string[];
  convergenceMs: { p50: number; max: number; slowestAfter: string };
  changes: { total: number; failed: number; byKind: Record<string, number> };
  operatorPolicyWrites: number;
  writesPerChange: number;
  partitionedLeadersStillRunning: number;
  /** Tenants the cleanup could not delete (their finalizers were not removed in 180 s). */
  leftoverTenants: number;
  replicasStarted: number;
  logs: string;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const rnd = new Random(o.seed);
  const say = o.progress ?? (() => undefined);
  const logDir = mkdtempSync(join(tmpdir(), 'tio-chaos-'));
  const rest = await RestClient.create(loadKubeConfig(o.kubeconfig));
  const prefix = `chaos-${(o.seed >>> 0).toString(36)}-${Date.now().toString(36).slice(-4)}`;
  const churn = new Churn(rest, rnd, prefix);
  // The record has its own client: its watches never wait behind the churn's requests.
  const recorderRest = await RestClient.create(loadKubeConfig(o.kubeconfig));
  const history = new History(recorderRest, prefix);
  const replicas = new Replicas({ kubeconfig: o.operatorKubeconfig ?? o.kubeconfig, logDir, repo, lease: o.lease, leaseId: prefix, leaseNamespace: o.leaseNamespace ?? 'default', extraArgs: ['--resync-period', '0', '--metrics-secure=false'], logLevel: o.replicaLogLevel });
  const faults = new Faults({ clusterDir: o.clusterDir, repo, replicas, rnd, lease: o.lease });
  const converged: { ms: number; after: string }[] = [];
  const violations: string[] = [];
  let checks = 0;
  let membershipLabelTenants = 0;
  let cycles = 0;
  let leftoverTenants = 0;
  const converge = async (after: string): Promise<void> => {
    const t0 = performance.now();
    for (;;) {
      const r = await checkInvariants(rest, prefix, repo).catch((e: unknown) => ({ checks: 0, violations: [`checker failed: ${String(e)}`], membershipLabelTenants: 0 }));
      if (r.violations.length === 0) {
        checks += r.checks;
        membershipLabelTenants = Math.max(membershipLabelTenants, r.membershipLabelTenants);
        converged.push({ ms: performance.now() - t0, after });
        return;
      }
      if (performance.now() - t0 > (o.convergeTimeoutMs ?? 120_000)) {
        checks += r.checks;
        violations.push(...r.violations.map((v) => `after ${after}: ${v}`));
        converged.push({ ms: performance.now() - t0, after });
        return;
      }
      await sleep(500);
    }
  };

  // NetworkPolicy writes, less the namespace controller's DELETECOLLECTION as it empties a deleted
  // namespace (the operator never sends one). Read before the cleanup, whose deletions are not the run's.
  const policyWrites = async (): Promise<number> =>
    sumWrites(Object.fromEntries(Object.entries(await apiserverWrites(rest)).filter(([k]) => !k.startsWith('DELETECOLLECTION '))), /^networkpolicies$/);
  const writesBefore = await policyWrites();
  let writesAfter: number;
  const gate = await rest.get('/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/tenant-isolation-pod-gate').then(() => true, () => false);
  let judged: ReturnType<typeof judgeAdmissions> | undefined;
  let labelled: ReturnType<typeof judgeLabels> | undefined;
  try {
    await history.start();
    await replicas.ensure(2);
    if (!await replicas.waitLeader(60_000)) throw new Error('no replica became leader within 60 s');
    await churn.prepare(2);
    const started = performance.now();
    let order: FaultKind[] = [];
    while (performance.now() - started < o.durationMs) {
      if (order.length === 0) order = rnd.shuffle(o.kinds ?? FAULT_KINDS);
      const kind = order.shift()!;
      cycles++;
      const steps = rnd.int(4, 10);
      const churning = (async () => { for (let i = 0; i < steps; i++) { await churn.step(); await sleep(rnd.int(50, 400)); } })();
      await sleep(rnd.int(200, 1_500));
      await faults.inject(kind).catch((e: unknown) => { violations.push(`fault ${kind} could not be injected: ${String(e)}`); });
      await churning;
      await replicas.ensure(2);
      await converge(kind);
      say(`cycle ${cycles}: ${kind} (${faults.log.at(-1)?.kind === kind ? faults.log.at(-1)!.detail : 'skipped'}), converged in ${Math.round(converged.at(-1)!.ms)} ms, ${violations.length} violations so far`);
    }
    // Everything stored so far is in the record; a create that timed out may have been stored all the same.
    await history.sync();
    for (const a of churn.pods) {
      const first = history.pods.versions(`${a.namespace}/${a.name}`)[0];
      if (a.outcome === 'failed' && first?.obj) { a.outcome = 'admitted'; a.rv = first.rv; }
    }
    // A break-glass write whose response was lost (a timeout during a fault) is stored all the same: the
    // record knows it by its mark.
    for (const rv of markedWrites(history, BREAK_GLASS_ANNOTATION)) churn.breakGlass.add(rv);
    judged = judgeAdmissions(history, churn.pods, churn.breakGlass);
    violations.push(...judged.violations.map((v) => `admission: ${v}`));
    labelled = judgeLabels(history, churn.breakGlass);
    violations.push(...labelled.violations.map((v) => `labels: ${v}`));
  } finally {
    writesAfter = await policyWrites().catch(() => Number.NaN);
    await history.stop();
    recorderRest.close();
    await churn.cleanup().catch(() => undefined);
    // Tenants go once the operator has removed their finalizers; then the replicas may stop.
    for (const deadline = Date.now() + 180_000; Date.now() < deadline;) {
      const left = (await rest.get<{ items: { metadata: { name: string } }[] }>('/apis/isolation.tenancy.dev/v1alpha1/tenantisolations').catch(() => ({ items: [] }))).items
        .filter((t) => t.metadata.name.startsWith(`${prefix}-`));
      leftoverTenants = left.length;
      if (left.length === 0) break;
      await replicas.ensure(1).catch(() => undefined);
      await sleep(500);
    }
    await replicas.stop();
  }
  const writes = writesAfter - writesBefore - churn.stats.policyWrites - history.policyWrites;
  rest.close();
  const byKind: Record<string, number> = {};
  for (const f of faults.log) byKind[f.kind] = (byKind[f.kind] ?? 0) + 1;
  const slowest = converged.reduce((a, b) => (b.ms > a.ms ? b : a), { ms: 0, after: '' });
  const failed = violations.length + faults.partitionedLeadersStillRunning > 0;
  // The replicas' logs are kept only when they can explain a violation.
  if (!failed) rmSync(logDir, { recursive: true, force: true });
  return {
    seed: o.seed,
    durationSeconds: Math.round(o.durationMs / 1000),
    cycles,
    faults: { total: faults.log.length, byKind, skippedNoLeader: faults.skipped },
    invariantChecks: checks,
    membershipLabelTenants,
    admission: {
      gate, checks: judged?.checks ?? 0, violations: judged?.violations.length ?? 0,
      watchRestarts: Object.values(history.restarts).reduce((a, b) => a + b, 0), gaps: history.gaps.length,
      ...(judged?.counts ?? judgeAdmissions(history, [], new Set()).counts),
    },
    labels: { checks: labelled?.checks ?? 0, violations: labelled?.violations.length ?? 0, ...(labelled?.counts ?? noLabelCounts()) },
    violations: violations.length + faults.partitionedLeadersStillRunning,
    violationSamples: violations.slice(0, 10),
    convergenceMs: { p50: Math.round(percentile(converged.map((c) => c.ms), 50)), max: Math.round(slowest.ms), slowestAfter: slowest.after },
    changes: { total: churn.changes, failed: churn.stats.failed, byKind: churn.stats.actions },
    operatorPolicyWrites: writes,
    writesPerChange: Number((writes / Math.max(1, churn.changes)).toFixed(2)),
    partitionedLeadersStillRunning: faults.partitionedLeadersStillRunning,
    leftoverTenants,
    replicasStarted: replicas.all.length,
    logs: failed ? logDir : '(removed: no violation)',
  };
}
