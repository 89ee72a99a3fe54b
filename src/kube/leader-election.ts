// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it, and
// safe by construction:
//   - optimistic concurrency on resourceVersion; a standby judges expiry by the monotonic time at which
//     it last saw the lease change (never by comparing its clock with the holder's);
//   - every lease attempt runs under a deadline of half the renew deadline (a black-holed request cannot
//     hold the loop), and the renew deadline is a timer of its own, independent of requests in flight;
//   - the write gate: the operator's client refuses writes after (last successful renew's start + renew
//     deadline), checked before each write, and the elector closes it for good when leadership ends,
//     resetting writes in flight. A standby acquires no earlier than (that start + lease duration), so
//     the old leader's last write precedes the new leader's first by the difference (5 s by default);
//   - on shutdown a leader releases the lease (leaseDurationSeconds 1) so a standby takes over at once.
import type { Logger } from 'pino';
import { isConflict, isNotFound, type RestClient } from './rest.ts';

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export const DEFAULT_LEASE = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** Where the lease lives: the apiserver in production, a fake in unit tests. */
export interface LeaseStore {
  /** The lease, or undefined if it does not exist. */
  get(signal: AbortSignal): Promise<Lease | undefined>;
  create(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Rejects with a Conflict (isConflict) when the resourceVersion is stale. */
  update(lease: Lease, signal: AbortSignal): Promise<Lease>;
}

/** What the elector opens and closes: the operator's RestClient. */
export interface WriteGate {
  allowWritesUntil(until: number): void;
  fenceWrites(reason: string): void;
}

const FIELD_MANAGER = 'tenant-isolation-operator';
/** The resourceVersion recorded for a lease seen deleted (no real one is empty). */
const GONE = '';

export function restLeaseStore(rest: RestClient, namespace: string, name: string): LeaseStore {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`;
  return {
    async get(signal) {
      try { return await rest.request<Lease>('GET', path, { signal }); } catch (err) { if (isNotFound(err)) return undefined; throw err; }
    },
    create: (lease, signal) => rest.create<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`, lease, FIELD_MANAGER, { signal }),
    update: (lease, signal) => rest.update<Lease>(path, lease, FIELD_MANAGER, { signal }),
  };
}

const micro = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'); // MicroTime

/** Refuses timings that cannot be safe, with the rule they break (client-go's NewLeaderElector checks). */
export function checkLeaseTimings(t: Pick<LeaderElectionConfig, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>): void {
  if (!(t.renewDeadlineMs < t.leaseDurationMs)) throw new Error(`lease timings: the renew deadline (${t.renewDeadlineMs} ms) must be shorter than the lease duration (${t.leaseDurationMs} ms)`);
  if (!(t.retryPeriodMs * 1.2 < t.renewDeadlineMs)) throw new Error(`lease timings: the renew deadline (${t.renewDeadlineMs} ms) must exceed 1.2 x the retry period (${t.retryPeriodMs} ms)`);
  if (t.leaseDurationMs % 1000 !== 0) throw new Error(`lease timings: the lease duration (${t.leaseDurationMs} ms) must be whole seconds (leaseDurationSeconds)`);
}

export class LeaderElector {
  private readonly cfg: LeaderElectionConfig;
  private readonly store: LeaseStore;
  private readonly gate: WriteGate | undefined;
  private readonly log: Logger;
  private leading = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private attempt: AbortController | undefined;
  private loop: Promise<void> | undefined;
  /** performance.now() at which leadership ends unless renewed. */
  private deadline = -Infinity;
  private wakeRetry: () => void = () => undefined;
  /** The lease as last seen changed, and when (performance.now()). */
  private observed: { rv?: string; at: number; holder?: string } = { at: 0 };
  private onStart: () => void = () => undefined;
  private onStop: () => void = () => undefined;

  constructor(store: LeaseStore, log: Logger, cfg: LeaderElectionConfig, gate?: WriteGate) {
    checkLeaseTimings(cfg);
    this.store = store; this.cfg = cfg; this.gate = gate;
    this.log = log.child({ lease: `${cfg.namespace}/${cfg.name}`, identity: cfg.identity });
    // No writes before the lease is won.
    gate?.allowWritesUntil(-Infinity);
  }

  get isLeader(): boolean { return this.leading; }

  /**
   * Runs until stop(): `onStartedLeading` once when the lease is won; `onStoppedLeading` once, at the
   * renew deadline, if it is lost (writes are fenced by then; the caller exits).
   */
  run(onStartedLeading: () => void, onStoppedLeading: () => void): void {
    this.onStart = onStartedLeading;
    this.onStop = onStoppedLeading;
    this.loop = this.tick();
  }

  /** Stops trying; a leader fences its writes and releases the lease so a standby can take over at once. */
  async stop(release = true): Promise<void> {
    if (this.stopped && !this.leading) { await this.loop; return; }
    const wasLeading = this.leading;
    this.halt();
    if (wasLeading) this.gate?.fenceWrites('stopped leading: shutting down');
    await this.loop;
    if (!wasLeading || !release) return;
    const signal = AbortSignal.timeout(this.cfg.renewDeadlineMs);
    try {
      const cur = await this.store.get(signal);
      if (cur?.spec.holderIdentity === this.cfg.identity) {
        await this.store.update({ ...cur, spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(new Date()) } }, signal);
        this.log.info('released the lease');
      }
    } catch (err) { this.log.warn({ err: String(err) }, 'could not release the lease'); }
  }

  private halt(): void {
    this.stopped = true;
    this.leading = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.deadlineTimer);
    this.wakeRetry();
    this.attempt?.abort(new Error('leader election stopped'));
  }

  /** Leadership ends now: writes are fenced before anything else runs. */
  private lose(why: string): void {
    if (!this.leading) return;
    this.halt();
    this.gate?.fenceWrites(`lost the leader lease: ${why}`);
    this.log.error({ renewDeadlineMs: this.cfg.renewDeadlineMs, why }, 'lost the lease');
    this.onStop();
  }

  private async tick(): Promise<void> {
    while (!this.stopped) {
      const start = performance.now();
      const ac = new AbortController();
      this.attempt = ac;
      // Half the renew deadline per attempt (so a second one fits), never past the deadline itself.
      const budget = Math.max(0, Math.min(this.cfg.renewDeadlineMs / 2, this.leading ? this.deadline - start : Infinity));
      const timer = setTimeout(() => ac.abort(new Error(`lease request timed out after ${Math.round(budget)} ms`)), budget);
      let held: boolean | 'lost' = false;
      try { held = await this.tryAcquireOrRenew(ac.signal); } catch (err) { this.log.debug({ err: String(err) }, 'lease request failed'); }
      finally { clearTimeout(timer); this.attempt = undefined; }
      if (this.stopped) return;
      if (held === 'lost') { this.lose('another replica holds the lease'); return; }
      if (held) this.renewed(start);
      if (this.stopped) return;
      await new Promise<void>((resolve) => {
        // Jitter like client-go's wait.JitterUntil (factor 1.2) so standbys do not move in lockstep.
        const delay = this.leading ? this.cfg.retryPeriodMs : this.cfg.retryPeriodMs * (1 + Math.random() * 0.2);
        this.retryTimer = setTimeout(resolve, delay);
        this.retryTimer.unref();
        this.wakeRetry = resolve;
      });
    }
  }

  /** A successful acquire or renew whose request started at `start`. */
  private renewed(start: number): void {
    const deadline = start + this.cfg.renewDeadlineMs;
    if (performance.now() >= deadline) { this.lose('renewed only after the renew deadline'); return; }
    this.deadline = deadline;
    this.gate?.allowWritesUntil(deadline);
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(() => this.lose(`not renewed within ${this.cfg.renewDeadlineMs} ms`), deadline - performance.now());
    this.deadlineTimer.unref();
    if (!this.leading) {
      this.leading = true;
      this.log.info('became leader');
      this.onStart();
    }
  }

  /** true: we hold the lease now; false: someone else does, or it could not be read; 'lost': we led, another holds it. */
  private async tryAcquireOrRenew(signal: AbortSignal): Promise<boolean | 'lost'> {
    const now = new Date();
    const desired = (prev?: Lease['spec']): Lease['spec'] => ({
      holderIdentity: this.cfg.identity,
      leaseDurationSeconds: Math.round(this.cfg.leaseDurationMs / 1000),
      acquireTime: prev?.holderIdentity === this.cfg.identity && prev.acquireTime ? prev.acquireTime : micro(now),
      renewTime: micro(now),
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (prev?.holderIdentity && prev.holderIdentity !== this.cfg.identity ? 1 : 0),
    });
    const cur = await this.store.get(signal);
    if (!cur) {
      // Gone after another held it (deleted by hand): that holder may write until its renew deadline, so
      // the deletion counts as a change seen now and waits a lease duration, as an unrenewed lease does.
      // A lease never seen (the first start) is created at once.
      const other = this.observed.holder !== undefined && this.observed.holder !== '' && this.observed.holder !== this.cfg.identity;
      if (other && !this.leading) {
        if (this.observed.rv !== GONE) this.observed = { rv: GONE, at: performance.now(), holder: this.observed.holder };
        if (this.observed.at + this.cfg.leaseDurationMs > performance.now()) return false;
      }
      await this.store.create({
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.cfg.name, namespace: this.cfg.namespace }, spec: { ...desired(), leaseTransitions: 0 },
      }, signal);
      return true;
    }
    const holder = cur.spec.holderIdentity ?? '';
    if (cur.metadata.resourceVersion !== this.observed.rv) this.observed = { rv: cur.metadata.resourceVersion, at: performance.now(), holder };
    if (holder !== '' && holder !== this.cfg.identity) {
      if (this.leading) return 'lost';
      const expired = this.observed.at + (cur.spec.leaseDurationSeconds ?? 0) * 1000 < performance.now();
      if (!expired) return false;
    }
    try {
      await this.store.update({ ...cur, spec: desired(cur.spec) }, signal);
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote first
      throw err;
    }
  }
}
