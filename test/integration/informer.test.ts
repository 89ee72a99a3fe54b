// ResilientInformer and RestClient.watch against the real apiserver: paged lists, watch events, transform,
// label selectors, a restart that relists and reports only the difference, and stop().
// Every test works on ConfigMaps in a namespace of its own; each namespace also holds the
// kube-root-ca.crt ConfigMap the controller-manager publishes, which tests wait for before they start
// an informer (so it is never a late, surprising add) and count like any other object.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { ResilientInformer, type InformerOptions, type RawObject } from '../../src/kube/informer.ts';
import { ApiError, RestClient, type WatchEvent } from '../../src/kube/rest.ts';
import { createNamespace, eventually, kubeconfig, rest, unique } from '../harness/cluster.ts';

interface ConfigMap extends RawObject {
  metadata: { name: string; namespace: string; resourceVersion: string; labels?: Record<string, string>; uid?: string };
  data?: Record<string, string>;
}
type Event = { type: 'add' | 'delete'; obj: ConfigMap } | { type: 'update'; obj: ConfigMap; old: ConfigMap };

const log = pino({ level: process.env.TIO_TEST_LOG ?? 'silent' });
const ROOT_CA = 'kube-root-ca.crt';
const CM = (ns: string, name = ''): string => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;

const namespaces: string[] = [];
const running: { informer: ResilientInformer<ConfigMap>; client: RestClient }[] = [];

afterEach(async () => {
  for (const { informer, client } of running.splice(0)) { await informer.stop(); client.close(); }
});
afterAll(async () => {
  const r = await rest();
  await Promise.all(namespaces.map((ns) => r.delete(`/api/v1/namespaces/${ns}`).catch(() => undefined)));
});

/** A new namespace, settled: its kube-root-ca.crt ConfigMap exists. */
async function freshNamespace(prefix: string): Promise<string> {
  const ns = unique(prefix);
  await createNamespace(ns);
  namespaces.push(ns);
  const r = await rest();
  await eventually(() => r.get(CM(ns, ROOT_CA)).then(() => true, () => false), `${ns}/${ROOT_CA}`, 10_000);
  return ns;
}

async function createCM(ns: string, name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}): Promise<ConfigMap> {
  return (await rest()).create<ConfigMap>(CM(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data }, 'tests');
}

/** An informer on its own RestClient (so a spy on its client sees only its requests) that records every event. */
async function informerFor(path: string, o: InformerOptions = {}, configure: (i: ResilientInformer<ConfigMap>) => void = () => undefined) {
  const client = await RestClient.create(loadKubeConfig(kubeconfig()));
  const events: Event[] = [];
  /** Each relist's resourceVersion, and how many events had been reported when it was announced. */
  const relists: { rv: string | undefined; after: number }[] = [];
  const informer = new ResilientInformer<ConfigMap>(client, path, {
    add: (obj) => events.push({ type: 'add', obj }),
    update: (obj, old) => events.push({ type: 'update', obj, old }),
    delete: (obj) => events.push({ type: 'delete', obj }),
    relisted: (rv) => relists.push({ rv, after: events.length }),
  }, log, o);
  configure(informer);
  running.push({ informer, client });
  return { informer, client, events, relists };
}

const summary = (events: Event[]): string[] => events.map((e) => `${e.type} ${e.obj.metadata.name}`);

/**
 * Creates a ConfigMap and waits for the informer to report it. Watch events arrive in order, so once the
 * barrier's add is seen every event caused earlier has been delivered too: what is not there by then
 * is not coming. Returns the events before the barrier.
 */
async function barrier(ns: string, events: Event[], labels: Record<string, string> = {}): Promise<Event[]> {
  const name = `barrier-${randomBytes(3).toString('hex')}`;
  await createCM(ns, name, {}, labels);
  await until(() => events.some((e) => e.type === 'add' && e.obj.metadata.name === name), `the informer to see ${name}`, 5_000);
  return events.filter((e) => e.obj.metadata.name !== name);
}

/** Polls a condition on local state (the recorded events) until it holds. */
const until = (cond: () => boolean, what: string, timeoutMs = 5_000): Promise<true> =>
  eventually(() => Promise.resolve(cond() || undefined), what, timeoutMs);

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

describe('ResilientInformer: the initial list', () => {
  it('lists in pages of pageSize with continue tokens and reports every object exactly once', async () => {
    const ns = await freshNamespace('inf-page');
    const mine = Array.from({ length: 13 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
    await Promise.all(mine.map((n) => createCM(ns, n, { n })));
    const expected = [...mine, ROOT_CA].sort();
    const live = await (await rest()).get<{ items: ConfigMap[] }>(CM(ns));
    expect(live.items.map((i) => i.metadata.name).sort()).toEqual(expected);

    const { informer, client, events } = await informerFor(CM(ns), { pageSize: 5 });
    const get = vi.spyOn(client, 'get');
    expect(informer.hasSynced).toBe(false);
    await informer.start();
    await withTimeout(informer.waitForSync(), 5_000, 'waitForSync');
    expect(informer.hasSynced).toBe(true);

    // 14 objects in pages of 5: three requests, the later two continuing where the previous one ended.
    const lists = get.mock.calls.filter(([path]) => path === CM(ns));
    expect(lists).toHaveLength(3);
    for (const [, query] of lists) expect(query).toMatchObject({ limit: 5 });
    expect(lists[0]![1]?.continue).toBeUndefined();
    expect(typeof lists[1]![1]?.continue).toBe('string');
    expect(typeof lists[2]![1]?.continue).toBe('string');
    expect(lists[2]![1]?.continue).not.toBe(lists[1]![1]?.continue);

    const before = await barrier(ns, events);
    expect(before.every((e) => e.type === 'add')).toBe(true);
    expect(before.map((e) => e.obj.metadata.name).sort()).toEqual(expected); // each once, nothing replayed by the watch
    expect(informer.size).toBe(expected.length + 1); // + the barrier
    expect(informer.list(ns).map((o) => o.metadata.name).filter((n) => !n.startsWith('barrier-')).sort()).toEqual(expected);
    expect(informer.list()).toHaveLength(expected.length + 1);
    expect(informer.list('some-other-namespace')).toEqual([]);
    expect(informer.get('cm-07', ns)?.data).toEqual({ n: 'cm-07' });
    expect(informer.get('cm-07', ns)?.metadata.namespace).toBe(ns);
    expect(informer.get('no-such-configmap', ns)).toBeUndefined();
    expect(informer.get('cm-07')).toBeUndefined(); // namespaced objects are not found without their namespace
    expect(informer.get('cm-07', 'some-other-namespace')).toBeUndefined();
    expect(informer.restartCount).toBe(0);
  });

  it('start() resolves after a failed first list, without syncing, and keeps retrying with backoff', async () => {
    const ns = await freshNamespace('inf-404');
    const { informer, client } = await informerFor(`/api/v1/namespaces/${ns}/nosuchresources`);
    const reasons: string[] = [];
    informer.onRestart = (r) => reasons.push(r);
    // When each list was sent.
    const sent: number[] = [];
    const realGet = client.get.bind(client);
    const get = vi.spyOn(client, 'get').mockImplementation((...args) => { sent.push(performance.now()); return realGet(...args); });
    let synced = false;
    void informer.waitForSync().then(() => { synced = true; });
    await withTimeout(informer.start(), 2_000, 'start() after a failing list');
    expect(informer.hasSynced).toBe(false);
    expect(informer.size).toBe(0);
    await until(() => get.mock.calls.length >= 2, 'a retried list', 4_000);
    expect(reasons[0]).toBe('error');
    expect(informer.restartCount).toBeGreaterThanOrEqual(1);
    // Two lists have failed and every promise callback due has run: a sync would have been reported.
    await new Promise((r) => setImmediate(r));
    expect(synced).toBe(false);
    // With backoff, not at once: the first wait is 0.5-1.5 x 250 ms, the next ones double. Until a list is
    // sent more than a second after the first, count those within that second: at most 4 (waits of at
    // least 125, 250 and 500 ms), where a retry without backoff would have sent dozens.
    expect(sent[1]! - sent[0]!).toBeGreaterThanOrEqual(120);
    await until(() => sent.some((s) => s - sent[0]! > 1_000), 'a list sent more than a second after the first', 8_000);
    const withinASecond = sent.filter((s) => s - sent[0]! <= 1_000).length;
    expect(withinASecond).toBeGreaterThanOrEqual(2);
    expect(withinASecond).toBeLessThanOrEqual(4);
    const t0 = Date.now();
    await withTimeout(informer.stop(), 2_000, 'stop() during backoff');
    expect(Date.now() - t0).toBeLessThan(2_000);
  });
});

describe('ResilientInformer: watch events after the sync', () => {
  it('reports a create as add, a change as update with the old object, a delete as delete', async () => {
    const ns = await freshNamespace('inf-watch');
    const { informer, events } = await informerFor(CM(ns));
    await informer.start();
    await informer.waitForSync();
    expect(summary(events)).toEqual([`add ${ROOT_CA}`]);
    events.length = 0;
    const size = informer.size;
    // Every change the cache takes moves changeCount (what is derived from the cache keys on it).
    const changes = informer.changeCount;
    expect(changes).toBeGreaterThan(0); // the initial list

    await createCM(ns, 'w', { v: '1' });
    await until(() => events.length >= 1, 'the add');
    expect(summary(events)).toEqual(['add w']);
    expect(events[0]!.obj.data).toEqual({ v: '1' });
    expect(informer.get('w', ns)).toBe(events[0]!.obj);
    expect(informer.size).toBe(size + 1);
    expect(informer.changeCount).toBe(changes + 1);

    await (await rest()).mergePatch(CM(ns, 'w'), { data: { v: '2' } }, 'tests');
    await until(() => events.length >= 2, 'the update');
    expect(summary(events)).toEqual(['add w', 'update w']);
    const u = events[1]!;
    if (u.type !== 'update') throw new Error('not an update');
    expect(u.obj.data).toEqual({ v: '2' });
    expect(u.old.data).toEqual({ v: '1' });
    expect(u.old).toBe(events[0]!.obj); // the object the cache held, as the add handler saw it
    expect(BigInt(u.old.metadata.resourceVersion)).toBeLessThan(BigInt(u.obj.metadata.resourceVersion));
    expect(informer.get('w', ns)?.data).toEqual({ v: '2' });
    expect(informer.size).toBe(size + 1);

    await (await rest()).delete(CM(ns, 'w'));
    await until(() => events.length >= 3, 'the delete');
    expect(summary(events)).toEqual(['add w', 'update w', 'delete w']);
    expect(events[2]!.obj.data).toEqual({ v: '2' });
    expect(informer.get('w', ns)).toBeUndefined();
    expect(informer.size).toBe(size);
    expect(informer.changeCount).toBe(changes + 3);
    expect(informer.restartCount).toBe(0);
  });

  it('applies transform to listed and watched objects and caches what it returns', async () => {
    const ns = await freshNamespace('inf-xform');
    await createCM(ns, 'listed', { k: 'listed' }, { team: 'a' });
    const seen: string[] = [];
    const { informer, events } = await informerFor(CM(ns), {}, (i) => {
      i.transform = (o) => {
        const m = o.metadata as { name: string; namespace: string };
        seen.push(m.name);
        // Name and namespace stay: the cache files objects under them.
        return { metadata: { name: m.name, namespace: m.namespace }, data: o.data } as ConfigMap;
      };
    });
    await informer.start();
    await informer.waitForSync();
    expect(seen.sort()).toEqual([ROOT_CA, 'listed']);
    expect(informer.get('listed', ns)).toEqual({ metadata: { name: 'listed', namespace: ns }, data: { k: 'listed' } });
    expect(events.find((e) => e.obj.metadata.name === 'listed')?.obj).toBe(informer.get('listed', ns));

    await createCM(ns, 'watched', { k: 'one' }, { team: 'b' });
    await (await rest()).mergePatch(CM(ns, 'watched'), { data: { k: 'two' } }, 'tests');
    await until(() => events.some((e) => e.type === 'update'), 'the update of watched');
    const cached = informer.get('watched', ns);
    expect(cached).toEqual({ metadata: { name: 'watched', namespace: ns }, data: { k: 'two' } });
    const u = events.find((e) => e.type === 'update');
    if (u?.type !== 'update') throw new Error('no update');
    expect(u.obj).toBe(cached);
    expect(u.old).toEqual({ metadata: { name: 'watched', namespace: ns }, data: { k: 'one' } });
    expect(seen.filter((n) => n === 'watched')).toHaveLength(2);
  });

  it('with a label selector sees only matching objects, and objects entering or leaving the selection', async () => {
    const ns = await freshNamespace('inf-sel');
    await createCM(ns, 'match', {}, { x: 'y' });
    await createCM(ns, 'other', {}, { x: 'z' });
    await createCM(ns, 'unlabelled');
    const { informer, events } = await informerFor(CM(ns), { labelSelector: 'x=y' });
    await informer.start();
    await informer.waitForSync();
    expect(summary(events)).toEqual(['add match']);
    expect(informer.size).toBe(1);
    expect(informer.get('other', ns)).toBeUndefined();
    expect(informer.get(ROOT_CA, ns)).toBeUndefined();
    events.length = 0;

    const r = await rest();
    await createCM(ns, 'match-2', {}, { x: 'y' });
    await createCM(ns, 'nomatch-2', {}, { x: 'z' });
    await r.mergePatch(CM(ns, 'other'), { metadata: { labels: { x: 'y' } } }, 'tests'); // enters the selection
    await r.mergePatch(CM(ns, 'match'), { metadata: { labels: { x: 'z' } } }, 'tests'); // leaves it
    await r.mergePatch(CM(ns, 'unlabelled'), { data: { changed: 'yes' } }, 'tests'); // never selected
    const before = await barrier(ns, events, { x: 'y' });
    expect(summary(before)).toEqual(['add match-2', 'add other', 'delete match']);
    expect(informer.list(ns).map((o) => o.metadata.name).filter((n) => !n.startsWith('barrier-')).sort()).toEqual(['match-2', 'other']);
  });
});

describe('ResilientInformer: stop and start again', () => {
  it('stop() ends the watch promptly; later changes are not reported and the cache stays readable', async () => {
    const ns = await freshNamespace('inf-stop');
    await createCM(ns, 'kept');
    const { informer, events } = await informerFor(CM(ns));
    await informer.start();
    await informer.waitForSync();
    const t0 = Date.now();
    await withTimeout(informer.stop(), 2_000, 'stop()');
    expect(Date.now() - t0).toBeLessThan(2_000);
    events.length = 0;
    // A second informer, still running, witnesses the changes: once it has seen a later barrier object,
    // the apiserver has sent the changes to every watch there is.
    const witness = await informerFor(CM(ns));
    await witness.informer.start();
    await witness.informer.waitForSync();
    await createCM(ns, 'after-stop');
    await (await rest()).delete(CM(ns, 'kept'));
    expect(summary(await barrier(ns, witness.events))).toContain('delete kept');
    expect(events).toEqual([]);
    expect(informer.get('kept', ns)?.metadata.name).toBe('kept');
    expect(informer.get('after-stop', ns)).toBeUndefined();
    expect(informer.hasSynced).toBe(true);
  });

  // A restart relists (the cache may be arbitrarily stale) and reports the difference to what the cache held.
  it('a restart of the same instance relists and reports exactly what changed while it was stopped', async () => {
    const ns = await freshNamespace('inf-restart');
    for (const n of ['same', 'gone', 'changed']) await createCM(ns, n, { v: 'before' });
    const { informer, events, relists } = await informerFor(CM(ns));
    await informer.start();
    await informer.waitForSync();
    const sameBefore = informer.get('same', ns);
    const changedBefore = informer.get('changed', ns);
    expect(sameBefore).toBeDefined();
    await withTimeout(informer.stop(), 2_000, 'stop()');

    const r = await rest();
    await r.delete(CM(ns, 'gone'));
    // Two changes: a relist sees only their result (one update); replaying the watch would report two.
    await r.mergePatch(CM(ns, 'changed'), { data: { v: 'between' } }, 'tests');
    await r.mergePatch(CM(ns, 'changed'), { data: { v: 'after' } }, 'tests');
    const created = await createCM(ns, 'new', { v: 'new' });
    events.length = 0;
    relists.length = 0;

    await withTimeout(informer.start(), 3_000, 'start() of a stopped informer');
    await withTimeout(informer.waitForSync(), 3_000, 'waitForSync() after the restart');
    const before = await barrier(ns, events);
    expect(summary(before).sort()).toEqual(['add new', 'delete gone', 'update changed']);
    // The relist is announced once, after its three differences, with a version that covers them.
    expect(relists).toHaveLength(1);
    expect(relists[0]!.after).toBe(3);
    expect(BigInt(relists[0]!.rv!) >= BigInt(created.metadata.resourceVersion)).toBe(true);
    const u = before.find((e) => e.type === 'update');
    if (u?.type !== 'update') throw new Error('no update');
    expect(u.obj.data).toEqual({ v: 'after' });
    expect(u.old).toBe(changedBefore);
    expect(informer.get('same', ns)).toBe(sameBefore); // unchanged: the very object handlers already saw
    expect(informer.get('gone', ns)).toBeUndefined();
    expect(informer.get('new', ns)?.data).toEqual({ v: 'new' });
    expect(informer.list(ns).map((o) => o.metadata.name).filter((n) => !n.startsWith('barrier-')).sort()).toEqual(['changed', ROOT_CA, 'new', 'same'].sort());
    expect(informer.size).toBe(5); // the four above + the barrier
  });
});

describe('ResilientInformer: transform work', () => {
  it('transforms only what changed: a relist reuses unchanged cached objects, a delete transforms nothing', async () => {
    const ns = await freshNamespace('inf-xwork');
    for (const n of ['same', 'changed', 'gone']) await createCM(ns, n, { v: 'before' });
    const transformed: string[] = [];
    const { informer, events } = await informerFor(CM(ns), {}, (i) => {
      i.transform = (o) => { transformed.push((o.metadata as { name: string }).name); return o; };
    });
    await informer.start();
    await informer.waitForSync();
    expect(transformed.filter((n) => n !== ROOT_CA).sort()).toEqual(['changed', 'gone', 'same']);
    await withTimeout(informer.stop(), 2_000, 'stop()');

    const r = await rest();
    await r.mergePatch(CM(ns, 'changed'), { data: { v: 'after' } }, 'tests');
    transformed.length = 0;
    await informer.start();
    await informer.waitForSync();
    expect(transformed).toEqual(['changed']);
    await r.delete(CM(ns, 'gone'));
    await barrier(ns, events);
    expect(transformed.filter((n) => !n.startsWith('barrier-'))).toEqual(['changed']);
    expect(events.some((e) => e.type === 'delete' && e.obj.metadata.name === 'gone')).toBe(true);
  });
});

describe('RestClient.watch', () => {
  it('rejects with an ApiError 404 for a resource that does not exist', async () => {
    const err = await (await rest()).watch('/api/v1/namespaces/default/nosuchresources', {}, () => undefined, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(404);
    expect((err as ApiError).message).toMatch(/^WATCH \/api\/v1\/namespaces\/default\/nosuchresources: 404/);
  });

  it('from a list\'s resourceVersion delivers only later events, and resolves when the server ends the stream', async () => {
    const ns = await freshNamespace('watch-rv');
    const r = await rest();
    await createCM(ns, 'old');
    const list = await r.get<{ metadata: { resourceVersion: string } }>(CM(ns));
    const got: WatchEvent<ConfigMap>[] = [];
    const ended = r.watch<ConfigMap>(CM(ns), { resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 2 }, (e) => got.push(e), new AbortController().signal);
    await createCM(ns, 'new', { a: 'b' });
    await withTimeout(ended, 4_500, 'a watch with timeoutSeconds=2');
    expect(got.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED new']);
    expect(got[0]!.object.data).toEqual({ a: 'b' });
  });

  it('without a resourceVersion starts with the current state as ADDED events', async () => {
    const ns = await freshNamespace('watch-all');
    await createCM(ns, 'existing');
    const got: string[] = [];
    const ac = new AbortController();
    const done = (await rest()).watch<ConfigMap>(CM(ns), {}, (e) => got.push(`${e.type} ${e.object.metadata.name}`), ac.signal);
    await until(() => got.length >= 2, 'the initial events', 5_000);
    expect(got.sort()).toEqual(['ADDED existing', `ADDED ${ROOT_CA}`]);
    ac.abort();
    await expect(withTimeout(done, 2_000, 'an aborted watch')).rejects.toThrow(/^WATCH \/api\/v1\/namespaces\/.*\/configmaps: /);
  });

  it('rejects with exactly the error its event handler threw, and stops delivering', async () => {
    const ns = await freshNamespace('watch-throw');
    const r = await rest();
    const list = await r.get<{ metadata: { resourceVersion: string } }>(CM(ns));
    const boom = new Error('handler refused');
    let calls = 0;
    // The outcome is captured at once: the watch may fail while the ConfigMaps are still being created.
    const outcome = r.watch<ConfigMap>(CM(ns), { resourceVersion: list.metadata.resourceVersion }, () => { calls++; throw boom; }, new AbortController().signal)
      .then(() => 'resolved', (e: unknown) => e);
    await createCM(ns, 'one');
    await createCM(ns, 'two');
    expect(await withTimeout(outcome, 4_000, 'the failing watch')).toBe(boom);
    // A witness watch from the same point sees 'two' and a later object: the failed watch was sent them
    // too, had it still been listening.
    const seen: string[] = [];
    const ac = new AbortController();
    void r.watch<ConfigMap>(CM(ns), { resourceVersion: list.metadata.resourceVersion }, (e) => seen.push(e.object.metadata.name), ac.signal).catch(() => undefined);
    await createCM(ns, 'three');
    await until(() => seen.includes('three'), 'the witness to see three');
    ac.abort();
    expect(seen).toEqual(['one', 'two', 'three']);
    expect(calls).toBe(1);
  });
});

describe('RestClient.request', () => {
  it('decodes multi-byte UTF-8 split across response chunks, in bodies of several hundred kilobytes', async () => {
    const ns = await freshNamespace('rest-utf8');
    // 3- and 4-byte characters, ~600 KB in all, so TCP/TLS chunk boundaries fall inside characters.
    const value = 'ünïcødé ✓ 名前空間 🚀 '.repeat(20_000);
    await createCM(ns, 'big', { v: value });
    const r = await rest();
    const got = await r.get<ConfigMap>(CM(ns, 'big'));
    expect(got.data?.v).toBe(value);
    const list = await r.get<{ items: ConfigMap[] }>(CM(ns));
    expect(list.items.find((c) => c.metadata.name === 'big')?.data?.v).toBe(value);
  });
});
