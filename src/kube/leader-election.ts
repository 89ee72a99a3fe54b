// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it:
// optimistic concurrency on resourceVersion, expiry judged by the local time we last saw the lease change
// (never by comparing our clock with the holder's), a renew deadline after which a leader stops at once,
// and a release on shutdown (leaseDurationSeconds 1) so a standby takes over without waiting.
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

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

const micro = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'); // MicroTime

export class LeaderElector {
  private readonly cfg: LeaderElectionConfig;
  private readonly rest: RestClient;
  private readonly log: Logger;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { holder?: string; rv?: string; at: number } = { at: 0 };
  private lastRenew = 0;
  private onStart: () => void = () => undefined;
  private onStop: () => void = () => undefined;

  constructor(rest: RestClient, log: Logger, cfg: LeaderElectionConfig) {
    this.rest = rest; this.cfg = cfg; this.log = log.child({ lease: `${cfg.namespace}/${cfg.name}`, identity: cfg.identity });
  }

  get isLeader(): boolean { return this.leading; }
  get path(): string { return `/apis/coordination.k8s.io/v1/namespaces/${this.cfg.namespace}/leases/${this.cfg.name}`; }

  /** Runs until stop(): `onStartedLeading` once when the lease is won; `onStoppedLeading` if it is lost. */
  run(onStartedLeading: () => void, onStoppedLeading: () => void): void {
    this.onStart = onStartedLeading;
    this.onStop = onStoppedLeading;
    void this.tick();
  }

  /** Stops trying; a leader releases the lease so a standby can take over at once. */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading && release) {
      this.leading = false;
      try {
        const cur = await this.rest.get<Lease>(this.path);
        if (cur.spec.holderIdentity === this.cfg.identity) {
          await this.rest.update(this.path, { ...cur, spec: { ...cur.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: micro(new Date()) } }, 'tenant-isolation-operator');
          this.log.info('released the lease');
        }
      } catch (err) { this.log.warn({ err: String(err) }, 'could not release the lease'); }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    // Jitter like client-go's wait.JitterUntil (factor 1.2) so standbys do not move in lockstep.
    const delay = this.cfg.retryPeriodMs * (1 + Math.random() * 0.2);
    this.timer = setTimeout(() => { void this.tick(); }, this.leading ? this.cfg.retryPeriodMs : delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let ok = false;
    try { ok = await this.tryAcquireOrRenew(); } catch (err) { this.log.debug({ err: String(err) }, 'lease request failed'); }
    const now = Date.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading) { this.leading = true; this.log.info('became leader'); this.onStart(); }
    } else if (this.leading && now - this.lastRenew > this.cfg.renewDeadlineMs) {
      // Could not renew within the deadline: another replica may hold it by now. Stop at once.
      this.leading = false;
      this.log.error({ renewDeadlineMs: this.cfg.renewDeadlineMs }, 'lost the lease');
      this.onStop();
      return;
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const desired = (prev?: Lease['spec']): Lease['spec'] => ({
      holderIdentity: this.cfg.identity,
      leaseDurationSeconds: Math.round(this.cfg.leaseDurationMs / 1000),
      acquireTime: prev?.holderIdentity === this.cfg.identity && prev.acquireTime ? prev.acquireTime : micro(now),
      renewTime: micro(now),
      leaseTransitions: (prev?.leaseTransitions ?? 0) + (prev?.holderIdentity && prev.holderIdentity !== this.cfg.identity ? 1 : 0),
    });
    let cur: Lease;
    try {
      cur = await this.rest.get<Lease>(this.path);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.rest.create(`/apis/coordination.k8s.io/v1/namespaces/${this.cfg.namespace}/leases`, {
        apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: this.cfg.name, namespace: this.cfg.namespace }, spec: { ...desired(), leaseTransitions: 0 },
      }, 'tenant-isolation-operator');
      return true;
    }
    if (cur.metadata.resourceVersion !== this.observed.rv) this.observed = { holder: cur.spec.holderIdentity, rv: cur.metadata.resourceVersion, at: Date.now() };
    const holder = cur.spec.holderIdentity ?? '';
    const duration = (cur.spec.leaseDurationSeconds ?? 0) * 1000;
    const expired = this.observed.at + duration < Date.now();
    if (holder !== '' && holder !== this.cfg.identity && !expired) return false;
    try {
      await this.rest.update(this.path, { ...cur, spec: desired(cur.spec) }, 'tenant-isolation-operator');
      return true;
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote first
      throw err;
    }
  }
}
