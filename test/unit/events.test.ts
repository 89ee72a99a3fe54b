// The Event recorder with a fake client: what it writes, when it counts instead of creating, how it
// batches, and that failures are logged, never thrown.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { EventRecorder, type EventTarget } from '../../src/kube/events.ts';
import { ApiError, type RestClient } from '../../src/kube/rest.ts';
import { DrainWaiters } from '../../src/queue/drain-waiters.ts';

interface Call { verb: 'create' | 'patch'; path: string; body: Record<string, unknown> }

/** Records writes; `fail` decides per call whether it is refused (and how). */
function fakeClient() {
  const calls: Call[] = [];
  const created = new Set<string>();
  const state = { fail: (_c: Call): Error | undefined => undefined };
  const rest = {
    create: (path: string, body: Record<string, unknown>) => {
      const c: Call = { verb: 'create', path, body };
      calls.push(c);
      const err = state.fail(c);
      if (err) return Promise.reject(err);
      created.add((body.metadata as { name: string }).name);
      return Promise.resolve(body);
    },
    mergePatch: (path: string, body: Record<string, unknown>) => {
      const c: Call = { verb: 'patch', path, body };
      calls.push(c);
      const err = state.fail(c) ?? (created.has(path.split('/').pop()!) ? undefined : new ApiError(404, 'NotFound', 'events not found'));
      return err ? Promise.reject(err) : Promise.resolve(body);
    },
  } as unknown as RestClient;
  return { rest, calls, state };
}

const T = { name: 'acme', uid: 'uid-1' };
let warnings: string[];
const log = () => {
  warnings = [];
  const l = pino({ level: 'warn' }, { write: (line: string) => { warnings.push((JSON.parse(line) as { msg: string }).msg); } });
  return l;
};
/** Lets the recorder's promise chains run (no real time passes). */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => { vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') }); });
afterEach(() => { vi.useRealTimers(); });

describe('EventRecorder', () => {
  it('creates a core/v1 Event in default about the TenantIsolation, with source and count 1', async () => {
    const { rest, calls } = fakeClient();
    new EventRecorder(rest, log(), 'pod-1').record(T, 'Warning', 'InvalidSpec', 'spec.x: bad');
    await settle();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.path).toBe('/api/v1/namespaces/default/events');
    expect(calls[0]!.body).toMatchObject({
      apiVersion: 'v1', kind: 'Event', metadata: { namespace: 'default' },
      involvedObject: { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: 'acme', uid: 'uid-1' },
      type: 'Warning', reason: 'InvalidSpec', message: 'spec.x: bad', count: 1,
      source: { component: 'tenant-isolation-operator', host: 'pod-1' }, reportingInstance: 'pod-1',
      firstTimestamp: '2026-01-01T00:00:00.000Z', lastTimestamp: '2026-01-01T00:00:00.000Z',
    });
    expect((calls[0]!.body.metadata as { name: string }).name).toMatch(/^acme\./);
  });

  it('a repeat within ten minutes bumps the count of the same Event; after ten minutes it is a new Event', async () => {
    const { rest, calls } = fakeClient();
    const r = new EventRecorder(rest, log(), 'pod-1');
    r.record(T, 'Normal', 'PolicyRestored', 'm');
    await settle();
    const name = (calls[0]!.body.metadata as { name: string }).name;
    await vi.advanceTimersByTimeAsync(60_000);
    r.record(T, 'Normal', 'PolicyRestored', 'm');
    await settle();
    expect(calls[1]).toEqual({ verb: 'patch', path: `/api/v1/namespaces/default/events/${name}`, body: { count: 2, lastTimestamp: '2026-01-01T00:01:00.000Z' } });
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    r.record(T, 'Normal', 'PolicyRestored', 'm');
    await settle();
    expect(calls[2]!.verb).toBe('create');
    expect((calls[2]!.body.metadata as { name: string }).name).not.toBe(name);
  });

  it('a different type, reason, message or object is a different Event', async () => {
    const { rest, calls } = fakeClient();
    const r = new EventRecorder(rest, log(), 'pod-1');
    r.record(T, 'Normal', 'A', 'm');
    r.record(T, 'Warning', 'A', 'm');
    r.record(T, 'Normal', 'B', 'm');
    r.record(T, 'Normal', 'A', 'other');
    r.record({ name: 'globex', uid: 'uid-2' }, 'Normal', 'A', 'm');
    await settle();
    expect(calls.map((c) => c.verb)).toEqual(['create', 'create', 'create', 'create', 'create']);
  });

  it('truncates messages to 1024 characters', async () => {
    const { rest, calls } = fakeClient();
    new EventRecorder(rest, log(), 'pod-1').record(T, 'Normal', 'A', 'x'.repeat(5000));
    await settle();
    expect((calls[0]!.body.message as string).length).toBe(1024);
  });

  /** A recorder and a way to add an item to the NamespacesIsolated batch of T (or of another target), with a 500 ms window. */
  const batching = () => {
    const { rest, calls } = fakeClient();
    const r = new EventRecorder(rest, log(), 'pod-1');
    const msg = (items: string[]) => `isolated ${items.join(', ')}`;
    return { r, calls, add: (item: string, target: EventTarget = T) => r.recordBatched(target, 'Normal', 'NamespacesIsolated', item, msg, 500) };
  };

  it('batches items for one object and reason into one Event after the window; flush sends at once', async () => {
    const { r, calls, add } = batching();
    expect(r.pending).toBe(0);
    for (const ns of ['a', 'b', 'c']) add(ns);
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(0);
    expect(r.pending).toBe(1); // one batch waiting: what tenant_isolation_events_pending reports
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a, b, c']);
    expect(r.pending).toBe(0);
    add('d');
    r.flush();
    await settle();
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a, b, c', 'isolated d']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toHaveLength(2); // the flushed batch's timer is gone
  });

  it('sends the next batch for the same object and reason no sooner than the minimum interval after the last', async () => {
    const { calls, add } = batching();
    add('a');
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toHaveLength(1);
    // A steady stream: items after the first batch wait for the interval, and go out together.
    await vi.advanceTimersByTimeAsync(100);
    add('b');
    await vi.advanceTimersByTimeAsync(2_000);
    add('c');
    add('x', { ...T, uid: 'other' });
    await vi.advanceTimersByTimeAsync(500);
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a', 'isolated x']); // another object is not held back
    await vi.advanceTimersByTimeAsync(500 + EventRecorder.BATCH_MIN_INTERVAL_MS - 3_100 - 1); // the first batch went out at 500
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a', 'isolated x', 'isolated b, c']);
    // After a quiet spell, the window alone applies again.
    await vi.advanceTimersByTimeAsync(EventRecorder.BATCH_MIN_INTERVAL_MS);
    add('d');
    await vi.advanceTimersByTimeAsync(500);
    expect(calls.map((c) => c.body.message).at(-1)).toBe('isolated d');
  });

  it('waits for a quiet spell: items a few hundred milliseconds apart make one Event, held at most the interval', async () => {
    const { calls, add } = batching();
    add('a');
    await vi.advanceTimersByTimeAsync(400);
    add('b');
    await vi.advanceTimersByTimeAsync(400);
    add('c');
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a, b, c']);
    // A stream that never pauses: the batch goes out BATCH_MIN_INTERVAL_MS after its first item anyway.
    await vi.advanceTimersByTimeAsync(EventRecorder.BATCH_MIN_INTERVAL_MS);
    const start = Date.now();
    for (let i = 0; Date.now() - start < EventRecorder.BATCH_MIN_INTERVAL_MS + 1_000; i++) {
      add(`s${i}`);
      await vi.advanceTimersByTimeAsync(250);
    }
    const sent = calls.slice(1).map((c) => c.body.message as string);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/^isolated s0, s1, .*s19$/); // items 0-19 came within 5 s of the first
  });

  it('holds a due batch while namespaces are being isolated, woken when they are, at most until its latest', async () => {
    const { r, calls, add } = batching();
    // The namespace queue: busy until `drain()`, then quiet from that moment.
    let busy = true; let drainedAt = 0; let drained = (): void => {};
    const queue = {
      get busy() { return busy; },
      get quietForMs() { return busy ? 0 : Date.now() - drainedAt; },
      idle: () => busy ? new Promise<void>((res) => { drained = res; }) : Promise.resolve(),
    };
    const drain = (): void => { busy = false; drainedAt = Date.now(); drained(); };
    r.hold = new DrainWaiters(queue, (key) => r.wake(key));
    add('a');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(calls).toHaveLength(0); // due at 500 ms, held
    drain();
    await vi.advanceTimersByTimeAsync(DrainWaiters.QUIET_MS - 1);
    expect(calls).toHaveLength(0); // not quiet long enough yet
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a']);
    // Isolation that never ends: the batch still goes out BATCH_MIN_INTERVAL_MS after its first item.
    busy = true;
    await vi.advanceTimersByTimeAsync(EventRecorder.BATCH_MIN_INTERVAL_MS);
    const first = Date.now();
    add('b');
    await vi.advanceTimersByTimeAsync(EventRecorder.BATCH_MIN_INTERVAL_MS - 1);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls.map((c) => c.body.message)).toEqual(['isolated a', 'isolated b']);
    expect(Date.now() - first).toBe(EventRecorder.BATCH_MIN_INTERVAL_MS);
  });

  it('logs a failed write instead of throwing, and a repeat after a failed create creates again', async () => {
    const { rest, calls, state } = fakeClient();
    const r = new EventRecorder(rest, log(), 'pod-1');
    state.fail = () => new Error('connection refused');
    expect(() => r.record(T, 'Normal', 'A', 'm')).not.toThrow();
    await settle();
    expect(warnings).toEqual(['could not record event']);
    state.fail = () => undefined;
    r.record(T, 'Normal', 'A', 'm');
    await settle();
    expect(calls.map((c) => c.verb)).toEqual(['create', 'create']);
  });

  it('an Event that disappeared (NotFound on the count patch) is created anew', async () => {
    const { rest, calls, state } = fakeClient();
    const r = new EventRecorder(rest, log(), 'pod-1');
    r.record(T, 'Normal', 'A', 'm');
    await settle();
    state.fail = (c) => (c.verb === 'patch' ? new ApiError(404, 'NotFound', 'gone') : undefined);
    r.record(T, 'Normal', 'A', 'm');
    await settle();
    expect(calls.map((c) => c.verb)).toEqual(['create', 'patch', 'create']);
    expect(warnings).toEqual([]);
  });
});
