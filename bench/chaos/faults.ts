// The operator replicas of a chaos run and the faults done to them and to the control plane. Each
// replica is a child process (`run --leader-elect`) that reaches the apiserver only through its own
// pausing proxy; the control plane is the one hack/local-cluster.sh runs in `clusterDir`.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { load as loadYaml } from 'js-yaml';
import { startPausingProxy, type PausingProxy } from '../../test/harness/proxy.ts';
import type { Random } from './random.ts';

export const FAULT_KINDS = ['leader-kill', 'leader-partition', 'apiserver-stop', 'etcd-restart', 'etcd-compaction', 'watch-sever'] as const;
export type FaultKind = typeof FAULT_KINDS[number];

export interface Lease { durationS: number; renewS: number; retryS: number }

interface Replica { id: number; proc: ChildProcess; proxy: PausingProxy; healthPort: number; metricsPort: number; exitedAt?: number }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Replicas {
  private readonly kubeconfig: string;
  private readonly target: URL;
  private readonly logDir: string;
  private readonly repo: string;
  private readonly logLevel: string;
  private readonly lease: Lease;
  private readonly leaseId: string;
  private readonly leaseNamespace: string;
  private readonly extra: string[];
  private seq = 0;
  readonly all: Replica[] = [];

  constructor(o: { kubeconfig: string; logDir: string; repo: string; lease: Lease; leaseId: string; leaseNamespace: string; extraArgs?: string[]; logLevel?: string }) {
    this.kubeconfig = o.kubeconfig; this.logDir = o.logDir; this.repo = o.repo; this.lease = o.lease; this.leaseId = o.leaseId; this.leaseNamespace = o.leaseNamespace; this.extra = o.extraArgs ?? []; this.logLevel = o.logLevel ?? 'warn';
    const cfg = loadYaml(readFileSync(o.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    this.target = new URL(cfg.clusters[0]!.cluster.server);
  }

  get running(): Replica[] { return this.all.filter((r) => r.proc.exitCode === null && r.proc.signalCode === null); }

  /** Starts replicas until `n` run. */
  async ensure(n = 2): Promise<void> {
    while (this.running.length < n) await this.start();
  }

  private async start(): Promise<void> {
    const id = this.seq++;
    const proxy = await startPausingProxy({ host: this.target.hostname, port: Number(this.target.port) });
    const cfg = loadYaml(readFileSync(this.kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    cfg.clusters[0]!.cluster.server = `https://127.0.0.1:${proxy.port}`;
    const kc = join(this.logDir, `replica-${id}.kubeconfig`);
    writeFileSync(kc, JSON.stringify(cfg), { mode: 0o600 });
    const metricsPort = 20000 + Math.floor(Math.random() * 10000);
    const out = openSync(join(this.logDir, `replica-${id}.log`), 'a');
    const proc = spawn(process.execPath, [join(this.repo, 'src/cli/main.ts'), 'run', '--kubeconfig', kc,
      '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', `127.0.0.1:${metricsPort + 1}`,
      '--leader-elect', '--leader-election-namespace', this.leaseNamespace, '--leader-election-id', this.leaseId,
      '--leader-elect-lease-duration', String(this.lease.durationS), '--leader-elect-renew-deadline', String(this.lease.renewS),
      '--leader-elect-retry-period', String(this.lease.retryS), '--log-level', this.logLevel, ...this.extra], { stdio: ['ignore', out, out] });
    const r: Replica = { id, proc, proxy, healthPort: metricsPort + 1, metricsPort };
    proc.once('exit', () => { r.exitedAt = performance.now(); void proxy.close(); });
    this.all.push(r);
    // Ready (caches synced) or gone: either way the caller moves on; a dead replica is replaced later.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline && proc.exitCode === null;) {
      if (await fetch(`http://127.0.0.1:${r.healthPort}/readyz`).then((x) => x.ok, () => false)) return;
      await sleep(200);
    }
  }

  /** The replica whose metrics say it leads. */
  async leader(): Promise<Replica | undefined> {
    for (const r of this.running) {
      const text = await fetch(`http://127.0.0.1:${r.metricsPort}/metrics`).then((x) => x.text(), () => '');
      if (new RegExp(`leader_election_master_status\\{name="${this.leaseId}"\\} 1`).test(text)) return r;
    }
    return undefined;
  }

  async waitLeader(timeoutMs: number): Promise<Replica | undefined> {
    for (const deadline = Date.now() + timeoutMs; Date.now() < deadline;) {
      const l = await this.leader();
      if (l) return l;
      await sleep(250);
    }
    return undefined;
  }

  /** Stops every replica (SIGTERM: drain and release) and its proxy. */
  async stop(): Promise<void> {
    await Promise.all(this.running.map((r) => new Promise<void>((res) => { r.proc.once('exit', () => res()); r.proc.kill('SIGTERM'); setTimeout(() => r.proc.kill('SIGKILL'), 25_000).unref(); })));
    await Promise.all(this.all.map((r) => r.proxy.close()));
  }
}

export interface FaultRecord { kind: FaultKind; at: number; detail: string }

/** Injects faults; each returns once the fault is over (healed or, for a killed leader, done). */
export class Faults {
  private readonly clusterDir: string;
  private readonly repo: string;
  private readonly replicas: Replicas;
  private readonly rnd: Random;
  private readonly lease: Lease;
  readonly log: FaultRecord[] = [];
  /** Leaders cut off from the apiserver that did not exit within the renew deadline (must stay 0). */
  partitionedLeadersStillRunning = 0;

  constructor(o: { clusterDir: string; repo: string; replicas: Replicas; rnd: Random; lease: Lease }) {
    this.clusterDir = o.clusterDir; this.repo = o.repo; this.replicas = o.replicas; this.rnd = o.rnd; this.lease = o.lease;
  }

  private ports(): { etcd: string } {
    const text = readFileSync(join(this.clusterDir, 'run', 'ports'), 'utf8');
    return { etcd: `http://127.0.0.1:${/^ETCD_PORT=(\d+)$/m.exec(text)![1]}` };
  }

  /** Faults that could not be injected (no leader elected in time): not counted as faults. */
  skipped = 0;

  async inject(kind: FaultKind): Promise<void> {
    const at = performance.now();
    const detail = await this[kind]();
    if (detail === undefined) this.skipped++;
    else this.log.push({ kind, at, detail });
  }

  /** The leader, waiting up to a lease duration and a bit (right after a takeover there is none). */
  private leader() { return this.replicas.waitLeader(this.lease.durationS * 1000 + 10_000); }

  private async 'leader-kill'(): Promise<string | undefined> {
    const l = await this.leader();
    if (!l) return undefined;
    l.proc.kill('SIGKILL');
    return `replica ${l.id} killed`;
  }

  /** The leader's network is black-holed past its renew deadline: it must stop writing and exit. */
  private async 'leader-partition'(): Promise<string | undefined> {
    const l = await this.leader();
    if (!l) return undefined;
    l.proxy.pause();
    const exited = new Promise<boolean>((r) => { l.proc.once('exit', () => r(true)); setTimeout(() => r(false), this.lease.renewS * 1000 + 3_000).unref(); });
    const ok = l.proc.exitCode !== null || await exited;
    if (!ok) this.partitionedLeadersStillRunning++;
    l.proxy.resume();
    return `replica ${l.id} ${ok ? 'exited' : 'STILL RUNNING'}`;
  }

  private async 'apiserver-stop'(): Promise<string> {
    const pid = Number(readFileSync(join(this.clusterDir, 'run', 'kube-apiserver.pid'), 'utf8').trim());
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmd.includes(this.clusterDir)) throw new Error(`pid ${pid} is not this cluster's kube-apiserver`);
    const ms = this.rnd.int(2_000, 6_000);
    process.kill(pid, 'SIGSTOP');
    try { await sleep(ms); } finally { process.kill(pid, 'SIGCONT'); }
    return `stopped ${ms} ms`;
  }

  private async 'etcd-restart'(): Promise<string> {
    await promisify(execFile)('bash', [join(this.repo, 'hack/local-cluster.sh'), 'restart', 'etcd', '--dir', this.clusterDir], { timeout: 120_000 });
    return 'restarted';
  }

  /** Compacts etcd's history to now, with the replicas' watches cut first so they resume from compacted versions. */
  private async 'etcd-compaction'(): Promise<string> {
    const etcd = this.ports().etcd;
    const post = async (path: string, body: unknown) => (await fetch(`${etcd}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<{ header: { revision: string } }>;
    for (const r of this.replicas.running) r.proxy.pause();
    for (const r of this.replicas.running) r.proxy.severAll();
    const rev = (await post('/v3/kv/range', { key: Buffer.from('/registry/namespaces/default').toString('base64') })).header.revision;
    await post('/v3/kv/compaction', { revision: rev, physical: true });
    for (const r of this.replicas.running) r.proxy.resume();
    return `compacted at ${rev}`;
  }

  /** Every connection of every replica cut at once (a load balancer restart). */
  private 'watch-sever'(): Promise<string> {
    for (const r of this.replicas.running) r.proxy.severAll();
    return Promise.resolve(`${this.replicas.running.length} replicas cut`);
  }
}
