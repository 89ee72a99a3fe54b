// Watches that cannot go stale unnoticed, under faults provoked for real: an expired resourceVersion
// (etcd compacted under a resource whose watch cache is off), a watch that goes silent (a paused proxy
// whose old connections stay half-open), and watches that end at once (a proxy answering each with an
// empty stream).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { ResilientInformer, type InformerOptions, type RawObject, type RestartReason } from '../../src/kube/informer.ts';
import { RestClient } from '../../src/kube/rest.ts';
import { createNamespace, eventually, kubeconfig, rest, unique } from '../harness/cluster.ts';
import { startPausingProxy, startWatchEndingProxy } from '../harness/proxy.ts';

interface Obj extends RawObject { metadata: { name: string; namespace: string; resourceVersion: string } }
type Seen = `${'add' | 'update' | 'delete'} ${string}`;
const log = pino({ level: process.env.TIO_TEST_LOG ?? 'silent' });
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => { for (const c of cleanup.splice(0).reverse()) await c(); });

// PodTemplates: the local cluster runs the apiserver with their watch cache off (hack/local-cluster.sh),
// so a watch from a compacted resourceVersion reaches etcd and gets 410 Gone.
const PT = (ns: string, name = ''): string => `/api/v1/namespaces/${ns}/podtemplates${name ? `/${name}` : ''}`;
const CM = (ns: string): string => `/api/v1/namespaces/${ns}/configmaps`;
const podTemplate = (name: string) => ({ apiVersion: 'v1', kind: 'PodTemplate', metadata: { name }, template: { spec: { containers: [{ name: 'c', image: 'registry.invalid/none' }] } } });

const until = (cond: () => boolean, what: string, timeoutMs = 15_000): Promise<true> =>
  eventually(() => Promise.resolve(cond() || undefined), what, timeoutMs);

/** An informer on `client` that records events and restart reasons. */
function informer(client: RestClient, path: string, o: InformerOptions = {}) {
  const seen: Seen[] = [];
  const reasons: RestartReason[] = [];
  const inf = new ResilientInformer<Obj>(client, path, {
    add: (x) => seen.push(`add ${x.metadata.name}`),
    update: (x) => seen.push(`update ${x.metadata.name}`),
    delete: (x) => seen.push(`delete ${x.metadata.name}`),
  }, log, o);
  inf.onRestart = (r) => reasons.push(r);
  cleanup.push(() => inf.stop());
  return { inf, seen, reasons };
}

/** A client for the admin identity whose connections all go through a pausing proxy. */
async function viaPausingProxy() {
  const access = loadKubeConfig(kubeconfig());
  const proxy = await startPausingProxy({ host: access.server.hostname, port: Number(access.server.port) });
  const client = await RestClient.create({ ...access, server: new URL(`https://127.0.0.1:${proxy.port}`) });
  cleanup.push(async () => { client.close(); await proxy.close(); });
  return { proxy, client };
}

/** etcd's client endpoint of the local cluster, if the tests run on one (not with TIO_KUBECONFIG elsewhere). */
function etcdEndpoint(): string | undefined {
  const ports = join(dirname(kubeconfig()), 'run', 'ports');
  if (!existsSync(ports)) return undefined;
  const port = /^ETCD_PORT=(\d+)$/m.exec(readFileSync(ports, 'utf8'))?.[1];
  return port ? `http://127.0.0.1:${port}` : undefined;
}

/** Compacts etcd's history up to its current revision (the v3 HTTP/JSON gateway); returns that revision. */
async function compactEtcd(endpoint: string): Promise<bigint> {
  const post = async (path: string, body: unknown): Promise<unknown> => {
    const r = await fetch(`${endpoint}${path}`, { method: 'POST', body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`etcd ${path}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  const range = await post('/v3/kv/range', { key: Buffer.from('/registry/namespaces/default').toString('base64') }) as { header: { revision: string } };
  await post('/v3/kv/compaction', { revision: range.header.revision, physical: true });
  return BigInt(range.header.revision);
}

describe('a watch whose resourceVersion was compacted away (410 Gone)', () => {
  it('relists at once and reports exactly what changed while it was away', async (ctx) => {
    const etcd = etcdEndpoint();
    if (!etcd) { ctx.skip('needs the etcd endpoint of hack/local-cluster.sh (run/ports next to the kubeconfig)'); return; }
    const ns = unique('gone');
    await createNamespace(ns);
    const r = await rest();
    for (const n of ['same', 'gone', 'changed']) await r.create(PT(ns), podTemplate(n), 'tests');
    const { proxy, client } = await viaPausingProxy();
    const { inf, seen, reasons } = informer(client, PT(ns));
    const get = vi.spyOn(client, 'get');
    await inf.start();
    await inf.waitForSync();
    expect(seen.sort()).toEqual(['add changed', 'add gone', 'add same']);
    seen.length = 0;

    // Cut the watch (the second connection, after the list's); its reconnect, from the last
    // resourceVersion, waits in the paused proxy.
    await until(() => proxy.accepted >= 2, 'the watch connection');
    proxy.pause();
    proxy.severAll();
    await until(() => reasons.includes('error'), 'the cut watch to fail');
    await r.delete(PT(ns, 'gone'));
    await r.mergePatch(PT(ns, 'changed'), { metadata: { labels: { v: '2' } } }, 'tests');
    await r.create(PT(ns), podTemplate('new'), 'tests');
    const compacted = await compactEtcd(etcd);
    proxy.resume();

    await until(() => reasons.includes('expired'), 'a 410 Gone');
    await r.create(PT(ns), podTemplate('barrier'), 'tests');
    await until(() => seen.includes('add barrier'), 'the barrier');
    expect(seen.filter((s) => s !== 'add barrier').sort()).toEqual(['add new', 'delete gone', 'update changed']);
    expect(reasons).toEqual(['error', 'expired']);
    // The relist is the second list, and the informer resumed from a revision after the compaction.
    expect(get.mock.calls.filter(([p]) => p === PT(ns))).toHaveLength(2);
    expect(BigInt(inf.get('barrier', ns)!.metadata.resourceVersion)).toBeGreaterThan(compacted);
    console.log(JSON.stringify({ test: '410', compactedAt: String(compacted), reasons }));
  });
});

describe('a watch that goes silent', () => {
  it('is aborted by the watchdog after the silence limit and relisted; events after the network heals are seen', async () => {
    const ns = unique('silent');
    await createNamespace(ns);
    const r = await rest();
    const { proxy, client } = await viaPausingProxy();
    const limitMs = 3_000;
    const { inf, seen, reasons } = informer(client, CM(ns), { maxSilenceMs: limitMs });
    await inf.start();
    await inf.waitForSync();

    // The old connections will stay half-open for ever: only the watchdog can notice.
    proxy.pause();
    const pausedAt = performance.now();
    reasons.length = 0;
    await r.create(CM(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during' } }, 'tests');
    await until(() => reasons.includes('silence'), 'the watchdog', 30_000);
    const noticedMs = performance.now() - pausedAt;
    proxy.resume({ halfOpen: true });
    await r.create(CM(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after' } }, 'tests');
    await until(() => seen.includes('add during') && seen.includes('add after'), 'the events during and after the silence', 30_000);
    console.log(JSON.stringify({ test: 'silence', limitMs, noticedMs: Math.round(noticedMs), reasons }));
    expect(noticedMs).toBeGreaterThanOrEqual(limitMs);
    expect(reasons.every((x) => x === 'silence')).toBe(true);
  });
});

describe('watches that end at once', () => {
  it('are retried with exponential backoff, not in a spin, from the same resourceVersion, and recover', async () => {
    const ns = unique('ending');
    await createNamespace(ns);
    const proxy = await startWatchEndingProxy(loadKubeConfig(kubeconfig()));
    const client = await RestClient.create({ source: 'proxy', server: proxy.url, tls: { rejectUnauthorized: true }, authorization: () => Promise.resolve(undefined) });
    cleanup.push(async () => { client.close(); await proxy.close(); });
    const { inf, seen, reasons } = informer(client, CM(ns));
    await inf.start();
    await inf.waitForSync();
    await until(() => proxy.watches >= 5, 'five watch attempts', 30_000);
    proxy.endWatches = false;
    const times = proxy.watchTimes.slice(0, 5);
    // Consecutive failures wait 250 ms x 2^n, jittered by 0.5-1.5: at least 125, 250, 500, 1000 ms.
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    console.log(JSON.stringify({ test: 'ending', gapsMs: gaps.map(Math.round), lists: proxy.requests }));
    gaps.forEach((g, i) => expect(g, `gap ${i}`).toBeGreaterThanOrEqual(125 * 2 ** i));
    expect(reasons.slice(0, 4)).toEqual(['error', 'error', 'error', 'error']);
    expect(proxy.requests).toBe(1); // the first list only: an ended watch resumes, it does not relist

    await (await rest()).create(CM(ns), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'after' } }, 'tests');
    await until(() => seen.includes('add after'), 'the informer to recover', 30_000);
  });
});
