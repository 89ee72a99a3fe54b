// The elector with a fake clock (vitest's fake timers: setTimeout, Date and performance.now) and an
// in-memory lease store that can answer, refuse, or hang like a black-holed connection.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { LeaderElector, checkLeaseTimings, type Lease, type LeaseStore, type WriteGate } from '../../src/kube/leader-election.ts';
import { ApiError } from '../../src/kube/rest.ts';

const T = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
const cfg = (identity: string) => ({ namespace: 'ops', name: 'lock', identity, ...T });
const log = pino({ level: 'silent' });

/** One lease in memory with etcd-like resourceVersions; `hang` makes every call wait until aborted. */
class FakeStore implements LeaseStore {
  lease: Lease | undefined;
  private rv = 1;
  hang = false;
  /** Answer after this long (a slow but working apiserver). */
  delayMs = 0;
  calls: string[] = [];
  aborted = 0;

  private async answer<T>(verb: string, signal: AbortSignal, fn: () => T): Promise<T> {
    this.calls.push(verb);
    if (this.hang) {
      return new Promise<T>((_, reject) => signal.addEventListener('abort', () => { this.aborted++; reject(signal.reason as Error); }, { once: true }));
    }
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    else await Promise.resolve();
    return fn();
  }
  get(signal: AbortSignal) { return this.answer('get', signal, () => (this.lease ? structuredClone(this.lease) : undefined)); }
  create(l: Lease, signal: AbortSignal) {
    return this.answer('create', signal, () => {
      if (this.lease) throw new ApiError(409, 'AlreadyExists', 'exists');
      this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
      return structuredClone(this.lease);
    });
  }
  update(l: Lease, signal: AbortSignal) {
    return this.answer('update', signal, () => {
      if (l.metadata.resourceVersion !== this.lease?.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'the object has been modified');
      this.lease = { ...structuredClone(l), metadata: { ...l.metadata, resourceVersion: String(++this.rv) } };
      return structuredClone(this.lease);
    });
  }
  /** Another replica writes the lease directly. */
  heldBy(holder: string): void {
    this.lease = {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'lock', namespace: 'ops', resourceVersion: String(++this.rv) },
      spec: { holderIdentity: holder, leaseDurationSeconds: 15, leaseTransitions: 3, renewTime: new Date().toISOString() },
    };
  }
}

/** Records what the elector does to the write gate, in order with its callbacks. */
function recorder() {
  const log: string[] = [];
  let until = Number.NaN;
  const gate: WriteGate = {
    allowWritesUntil: (u) => { until = u; log.push(`allow ${u === -Infinity ? '-inf' : Math.round(u)}`); },
    fenceWrites: (reason) => { until = -Infinity; log.push(`fence: ${reason}`); },
  };
  return { gate, log, get until() { return until; } };
}

beforeEach(() => { vi.useFakeTimers(); vi.spyOn(Math, 'random').mockReturnValue(0); });
afterEach(() => { vi.useRealTimers(); vi.restoreAllMocks(); });

describe('LeaderElector', () => {
  it('creates an absent lease, leads, and opens writes until the renew deadline of that attempt', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    expect(g.log).toEqual(['allow -inf']); // no writes before leading
    const t0 = performance.now();
    let started = 0;
    e.run(() => { started++; g.log.push('started'); }, () => g.log.push('stopped'));
    await vi.advanceTimersByTimeAsync(0);
    expect(e.isLeader).toBe(true);
    expect(started).toBe(1);
    expect(store.calls).toEqual(['get', 'create']);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(g.log).toEqual(['allow -inf', `allow ${Math.round(t0 + T.renewDeadlineMs)}`, 'started']);
    await e.stop(false);
  });

  it('renews every retry period, moving the write deadline each time, and calls onStartedLeading once', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    let started = 0;
    e.run(() => { started++; }, () => { throw new Error('must not stop'); });
    await vi.advanceTimersByTimeAsync(0);
    const rvs = [store.lease!.metadata.resourceVersion];
    for (let i = 1; i <= 5; i++) {
      await vi.advanceTimersByTimeAsync(T.retryPeriodMs);
      rvs.push(store.lease!.metadata.resourceVersion);
      expect(g.until).toBe(i * T.retryPeriodMs + T.renewDeadlineMs);
    }
    expect(new Set(rvs).size).toBe(6);
    expect(started).toBe(1);
    expect(e.isLeader).toBe(true);
    await e.stop(false);
  });

  it('a black-holed renew is abandoned at half the renew deadline, and at the deadline writes are fenced before onStoppedLeading runs', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    let stopped = 0;
    e.run(() => undefined, () => { stopped++; g.log.push(`stopped, gate ${g.until}`); });
    await vi.advanceTimersByTimeAsync(0);
    const lastRenewStart = performance.now();
    store.hang = true; // from now on no request returns
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs); // renew attempt 1 starts, hangs
    await vi.advanceTimersByTimeAsync(T.renewDeadlineMs / 2 - 1);
    expect(store.aborted).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(store.aborted).toBe(1); // abandoned at half the renew deadline
    expect(e.isLeader).toBe(true);
    // Still leading just before the deadline, which counts from the start of the last good renew.
    await vi.advanceTimersByTimeAsync(lastRenewStart + T.renewDeadlineMs - performance.now() - 1);
    expect(e.isLeader).toBe(true);
    expect(stopped).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(e.isLeader).toBe(false);
    expect(stopped).toBe(1);
    expect(g.log.slice(-2)).toEqual([`fence: lost the leader lease: not renewed within ${T.renewDeadlineMs} ms`, 'stopped, gate -Infinity']);
    // The attempt in flight at the deadline was aborted too, and nothing runs afterwards.
    const calls = store.calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(store.calls.length).toBe(calls);
    expect(stopped).toBe(1);
    await e.stop(true); // no release after a loss
    expect(store.calls.length).toBe(calls);
  });

  it('the write deadline counts from when a renew was sent, not from when its answer came back', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    e.run(() => undefined, () => undefined);
    await vi.advanceTimersByTimeAsync(0);
    store.delayMs = 1_500; // the get and the update take 1.5 s each
    const sent = performance.now() + T.retryPeriodMs;
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs + 3_000);
    expect(store.lease?.metadata.resourceVersion).toBe('3');
    // A standby that sees this renew cannot acquire before sent + lease duration; writes end at sent + deadline.
    expect(g.until).toBe(sent + T.renewDeadlineMs);
    await e.stop(false);
  });

  it('a renew that fails keeps leading until the deadline and recovers if a later renew succeeds', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    e.run(() => undefined, () => { throw new Error('must not stop'); });
    await vi.advanceTimersByTimeAsync(0);
    store.hang = true;
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs + T.renewDeadlineMs / 2); // one abandoned attempt
    store.hang = false;
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs);
    expect(e.isLeader).toBe(true);
    expect(g.until).toBe(performance.now() + T.renewDeadlineMs);
    await e.stop(false);
  });

  /** Elector b, standing by while 'other' holds the lease; `startedAt()` is when it began leading, if it did. */
  async function standby() {
    const store = new FakeStore();
    store.heldBy('other');
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('b'), g.gate);
    let started: number | undefined;
    e.run(() => { started = performance.now(); }, () => undefined);
    await vi.advanceTimersByTimeAsync(0);
    return { store, g, e, startedAt: () => started };
  }

  it('a standby waits a full lease duration from when it saw the lease change, then takes it over', async () => {
    const { store, g, e, startedAt } = await standby();
    const seenAt = performance.now();
    await vi.advanceTimersByTimeAsync(8_000);
    store.heldBy('other'); // a renew by the holder: the clock starts again
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs);
    const renewSeenAt = performance.now();
    expect(renewSeenAt - seenAt).toBeLessThan(T.leaseDurationMs);
    await vi.advanceTimersByTimeAsync(T.leaseDurationMs - 1);
    expect(startedAt()).toBeUndefined();
    expect(g.until).toBe(-Infinity);
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs + 1);
    expect(startedAt()).toBeDefined();
    expect(startedAt()! - renewSeenAt).toBeGreaterThan(T.leaseDurationMs);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 4 });
    await e.stop(false);
  });

  it('a lease deleted by hand is not taken at once: the standby waits a lease duration from seeing it gone', async () => {
    const { store, e, startedAt } = await standby();
    store.lease = undefined; // kubectl delete lease: the holder may still be writing until its renew deadline
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs);
    const goneSeenAt = performance.now();
    await vi.advanceTimersByTimeAsync(T.leaseDurationMs - T.retryPeriodMs);
    expect(startedAt()).toBeUndefined();
    expect(store.lease).toBeUndefined();
    await vi.advanceTimersByTimeAsync(2 * T.retryPeriodMs + 1);
    expect(startedAt()! - goneSeenAt).toBeGreaterThanOrEqual(T.leaseDurationMs);
    expect((store.lease as Lease | undefined)?.spec.holderIdentity).toBe('b');
    await e.stop(false);
  });

  it('two electors on one lease: only one leads at a time', async () => {
    const store = new FakeStore();
    const a = new LeaderElector(store, log, cfg('a'));
    const b = new LeaderElector(store, log, cfg('b'));
    a.run(() => undefined, () => undefined);
    b.run(() => undefined, () => undefined);
    for (let i = 0; i < 20; i++) {
      await vi.advanceTimersByTimeAsync(1_000);
      expect(Number(a.isLeader) + Number(b.isLeader)).toBe(1);
    }
    await a.stop(false);
    await b.stop(false);
  });

  it('a leader that finds another holder in the lease stops at once, without waiting for the deadline', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    let stoppedAt: number | undefined;
    e.run(() => undefined, () => { stoppedAt = performance.now(); });
    await vi.advanceTimersByTimeAsync(0);
    store.heldBy('usurper');
    const t = performance.now();
    await vi.advanceTimersByTimeAsync(T.retryPeriodMs);
    expect(stoppedAt).toBe(t + T.retryPeriodMs);
    expect(g.log.at(-1)).toBe('fence: lost the leader lease: another replica holds the lease');
  });

  it('a conflict on acquire means someone else won: no leadership, no error', async () => {
    const store = new FakeStore();
    store.heldBy('other');
    const e = new LeaderElector(store, log, cfg('b'));
    const update = store.update.bind(store);
    // Another replica writes between our read and our write.
    store.update = (l, s) => { store.heldBy('other'); return update(l, s); };
    let started = false;
    e.run(() => { started = true; }, () => undefined);
    await vi.advanceTimersByTimeAsync(40_000);
    expect(started).toBe(false);
    expect(store.lease?.spec.holderIdentity).toBe('other');
    await e.stop(false);
  });

  it('stop() fences writes, then releases the lease with a one-second duration', async () => {
    const store = new FakeStore();
    const g = recorder();
    const e = new LeaderElector(store, log, cfg('a'), g.gate);
    e.run(() => undefined, () => undefined);
    await vi.advanceTimersByTimeAsync(0);
    await e.stop(true);
    expect(g.log.at(-1)).toBe('fence: stopped leading: shutting down');
    expect(store.lease?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    expect(e.isLeader).toBe(false);
  });

  it('refuses timings that cannot be safe, naming the rule', () => {
    expect(() => checkLeaseTimings({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toThrow(/renew deadline \(10000 ms\) must be shorter than the lease duration/);
    expect(() => checkLeaseTimings({ leaseDurationMs: 15_000, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(/must exceed 1.2 x the retry period/);
    expect(() => checkLeaseTimings({ leaseDurationMs: 15_500, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 })).toThrow(/whole seconds/);
    expect(() => checkLeaseTimings(T)).not.toThrow();
  });
});
