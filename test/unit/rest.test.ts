// RestClient against a local HTTP server that answers as the test tells it: what reaches the socket,
// and what the client makes of the answers.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError, RestClient, WritesFencedError } from '../../src/kube/rest.ts';
import { repo } from '../harness/run.ts';

interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders }
let server: http.Server;
let seen: Seen[];
let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;
let serverSockets: { socket: net.Socket; error?: string; ended: boolean }[];
let client: RestClient;

beforeEach(async () => {
  seen = [];
  serverSockets = [];
  handler = (_req, res) => { res.setHeader('Content-Type', 'application/json'); res.end('{}'); };
  server = http.createServer((req, res) => { seen.push({ method: req.method!, url: req.url!, headers: req.headers }); handler(req, res); });
  server.on('connection', (socket) => {
    const s: { socket: net.Socket; error?: string; ended: boolean } = { socket, ended: false };
    socket.on('error', (e: NodeJS.ErrnoException) => { s.error = e.code; });
    socket.on('end', () => { s.ended = true; });
    serverSockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  client = await RestClient.create({ source: 'test', server: new URL(`http://127.0.0.1:${port}`), tls: { rejectUnauthorized: true }, authorization: () => Promise.resolve(undefined) });
});
afterEach(async () => {
  client.close();
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

const until = async (cond: () => boolean): Promise<void> => { while (!cond()) await new Promise((r) => setTimeout(r, 5)); };

describe('RestClient write fence', () => {
  it('without a gate, writes go through', async () => {
    await client.create('/api/v1/namespaces', { metadata: { name: 'x' } }, 'tests');
    expect(seen.map((s) => s.method)).toEqual(['POST']);
  });

  it('refuses writes once allowWritesUntil has passed, before anything reaches the socket; reads still work', async () => {
    client.allowWritesUntil(performance.now() + 60_000);
    await client.update('/api/v1/namespaces/x', {}, 'tests');
    client.allowWritesUntil(performance.now() - 1);
    const err = await client.apply('/api/v1/namespaces/x', {}, 'tests').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WritesFencedError);
    expect((err as Error).message).toMatch(/^PATCH \/api\/v1\/namespaces\/x: refused, the leader lease is not held/);
    await client.get('/api/v1/namespaces/x');
    expect(seen.map((s) => s.method)).toEqual(['PUT', 'GET']);
  });

  it('fenceWrites refuses every later write for good, even if the gate is opened again', async () => {
    client.fenceWrites('lost the leader lease');
    client.allowWritesUntil(Infinity);
    for (const w of [
      () => client.create('/a', {}, 'm'), () => client.update('/a', {}, 'm'), () => client.apply('/a', {}, 'm'),
      () => client.mergePatch('/a', {}, 'm'), () => client.jsonPatch('/a', [], 'm'), () => client.delete('/a'),
    ]) await expect(w()).rejects.toThrow(/refused, lost the leader lease/);
    expect(client.writesFenced).toBe(true);
    expect(seen).toEqual([]);
  });

  it('resets a write in flight (TCP RST, not a FIN that would let the request through)', async () => {
    handler = () => undefined; // never answers
    const pending = client.create('/api/v1/namespaces', { metadata: { name: 'x' } }, 'tests').catch((e: unknown) => e);
    await until(() => seen.length === 1);
    client.fenceWrites('lost the leader lease');
    const err = await pending;
    expect(err).toBeInstanceOf(WritesFencedError);
    expect((err as Error).message).toBe('POST /api/v1/namespaces: write in flight reset: lost the leader lease');
    await until(() => serverSockets[0]!.error !== undefined || serverSockets[0]!.ended);
    expect(serverSockets[0]!.error).toBe('ECONNRESET');
  });

  it('a write that waited for a socket past the renew deadline is refused when it gets one, unsent', async () => {
    const held: (() => void)[] = [];
    handler = (_req, res) => { held.push(() => res.end('{}')); };
    // Every one of the agent's 32 sockets busy with a read the server holds.
    const reads = Array.from({ length: 32 }, (_, i) => client.get(`/api/v1/namespaces/r${i}`));
    await until(() => seen.length === 32);
    const deadline = performance.now() + 20;
    client.allowWritesUntil(deadline);
    const write = client.create('/api/v1/namespaces', { metadata: { name: 'x' } }, 'tests').catch((e: unknown) => e);
    await until(() => performance.now() > deadline);
    handler = (_req, res) => { res.end('{}'); };
    held.shift()!(); // one socket is free again: the queued write would take it
    const err = await write;
    expect(err).toBeInstanceOf(WritesFencedError);
    expect((err as Error).message).toBe('POST /api/v1/namespaces: refused, the leader lease is not held');
    for (const h of held) h();
    await Promise.all(reads);
    await client.get('/api/v1/namespaces/after'); // a barrier: anything sent before it has arrived
    expect(seen.filter((s) => s.method !== 'GET')).toEqual([]);
  });

  it('a read in flight is left alone by the fence', async () => {
    let answer: () => void = () => undefined;
    handler = (_req, res) => { answer = () => res.end('{"ok":true}'); };
    const read = client.get<{ ok: boolean }>('/api/v1/namespaces');
    await until(() => seen.length === 1);
    client.fenceWrites('lost the leader lease');
    answer();
    await expect(read).resolves.toEqual({ ok: true });
  });
});

/** A client whose credential comes from a plugin: 'old' until refreshed, then 'new'; counts the refreshes. */
async function pluginClient(): Promise<{ plugin: RestClient; refreshes: () => number }> {
  let token = 'old';
  let refreshes = 0;
  const { port } = server.address() as net.AddressInfo;
  const plugin = await RestClient.create({
    source: 'test', server: new URL(`http://127.0.0.1:${port}`), tls: { rejectUnauthorized: true },
    authorization: () => Promise.resolve(`Bearer ${token}`),
    refreshAuthorization: () => { refreshes++; token = 'new'; },
  });
  return { plugin, refreshes: () => refreshes };
}
const unauthorized = (res: http.ServerResponse): void => {
  res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"}');
};

describe('RestClient and a refused credential (401)', () => {
  it('asks for a fresh credential and sends the request again once; a credential still refused fails without a plugin run per request', async () => {
    const { plugin, refreshes } = await pluginClient();
    try {
      let accept = 'new';
      handler = (req, res) => {
        if (req.headers.authorization !== `Bearer ${accept}`) { unauthorized(res); return; }
        res.setHeader('Content-Type', 'application/json'); res.end('{}');
      };
      // A create too: a 401 means nothing was done.
      await plugin.create('/api/v1/namespaces', { metadata: { name: 'x' } }, 'tests');
      expect(seen.map((x) => `${x.method} ${x.headers.authorization}`)).toEqual(['POST Bearer old', 'POST Bearer new']);
      expect(refreshes()).toBe(1);
      // Revoked for good: refused, and within 10 s no second refresh (no plugin run per request).
      accept = 'never';
      await expect(plugin.get('/api/v1/namespaces')).rejects.toMatchObject({ status: 401 });
      await expect(plugin.get('/api/v1/namespaces')).rejects.toMatchObject({ status: 401 });
      expect(refreshes()).toBe(1);
    } finally { plugin.close(); }
  });

  it('requests refused at the same moment all get the one refreshed credential, with one refresh', async () => {
    const { plugin, refreshes } = await pluginClient();
    try {
      // Both requests carry the old token before either is answered.
      const refused: (() => void)[] = [];
      handler = (req, res) => {
        if (req.headers.authorization === 'Bearer new') { res.setHeader('Content-Type', 'application/json'); res.end('{}'); return; }
        refused.push(() => unauthorized(res));
        if (refused.length === 2) for (const r of refused) r();
      };
      await Promise.all([plugin.get('/api/v1/namespaces/a'), plugin.get('/api/v1/namespaces/b')]);
      expect(refreshes()).toBe(1);
      expect(seen.filter((x) => x.headers.authorization === 'Bearer new')).toHaveLength(2);
    } finally { plugin.close(); }
  });
});

/** Answers the first `n` requests with `status` and Retry-After `after` (undefined: no header), then 200. */
function refuseFirst(n: number, status: number, after: string | undefined, body: unknown = { kind: 'Status', code: status, reason: status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', message: 'try later' }): void {
  let refused = 0;
  handler = (_req, res) => {
    if (refused++ < n) {
      res.writeHead(status, { 'Content-Type': 'application/json', ...(after !== undefined ? { 'Retry-After': after } : {}) });
      res.end(JSON.stringify(body));
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end('{"ok":true}');
  };
}

describe('RestClient and Retry-After', () => {
  it('a 429 is retried after the Retry-After it names, for reads and for every kind of write (the server did not process it)', async () => {
    refuseFirst(1, 429, '1');
    const t0 = performance.now();
    await expect(client.get('/api/v1/namespaces')).resolves.toEqual({ ok: true });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(1_000);
    for (const write of [() => client.create('/a', {}, 'm'), () => client.jsonPatch('/a', [], 'm')]) {
      refuseFirst(1, 429, '0');
      seen = [];
      await expect(write()).resolves.toEqual({ ok: true });
      expect(seen).toHaveLength(2);
    }
  });

  it('a 503 with Retry-After is retried only for requests safe to repeat', async () => {
    for (const [name, call, retried] of [
      ['GET', () => client.get('/a'), true],
      ['PUT', () => client.update('/a', {}, 'm'), true],
      ['apply', () => client.apply('/a', {}, 'm'), true],
      ['merge patch', () => client.mergePatch('/a', {}, 'm'), true],
      ['DELETE', () => client.delete('/a'), true],
      ['POST', () => client.create('/a', {}, 'm'), false],
      ['JSON patch', () => client.jsonPatch('/a', [], 'm'), false],
    ] as const) {
      refuseFirst(1, 503, '0');
      seen = [];
      const r = await call().then(() => 'ok', (e: unknown) => e);
      expect(seen.length, name).toBe(retried ? 2 : 1);
      if (!retried) expect((r as ApiError).status, name).toBe(503);
    }
  });

  it('a 503 without Retry-After is an error at once', async () => {
    refuseFirst(1, 503, undefined);
    await expect(client.get('/a')).rejects.toMatchObject({ status: 503, reason: 'ServiceUnavailable' });
    expect(seen).toHaveLength(1);
  });

  it('gives up after maxRetries, with the last answer as the error', async () => {
    refuseFirst(100, 429, '0');
    const err = await client.get('/a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).retryAfterSeconds).toBe(0);
    expect(seen).toHaveLength(6); // the request and 5 retries
  });

  it('a retried write still passes the write fence on every attempt', async () => {
    client.allowWritesUntil(Infinity);
    let first = true;
    handler = (_req, res) => {
      if (first) { first = false; client.fenceWrites('lost the leader lease'); res.writeHead(429, { 'Retry-After': '0' }); res.end('{}'); return; }
      res.end('{}');
    };
    await expect(client.create('/a', {}, 'm')).rejects.toBeInstanceOf(WritesFencedError);
    expect(seen).toHaveLength(1);
  });
});

describe('RestClient requests', () => {
  it('send the path with its query encoded as URLSearchParams does, a query in the path kept and overridden by name', async () => {
    const query = { labelSelector: 'app.kubernetes.io/managed-by in (a,b)', fieldSelector: 'metadata.name=x y', limit: 500, continue: undefined, force: true };
    await client.get('/apis/g/v1/things', query);
    await client.get('/api/v1/namespaces?limit=5&watch=false', { limit: 7 });
    const expected = (path: string, q: Record<string, string | number | boolean | undefined>): string => {
      const u = new URL(path, 'http://x');
      for (const [k, v] of Object.entries(q)) if (v !== undefined) u.searchParams.set(k, String(v));
      return `${u.pathname}${u.search}`;
    };
    expect(seen.map((x) => x.url)).toEqual([expected('/apis/g/v1/things', query), expected('/api/v1/namespaces?limit=5&watch=false', { limit: 7 })]);
    expect(seen[1]!.url).toBe('/api/v1/namespaces?limit=7&watch=false');
  });

  it('reach a server whose URL is an IPv6 literal', async (ctx) => {
    const v6 = http.createServer((req, res) => { seen.push({ method: req.method!, url: req.url!, headers: req.headers }); res.end('{"ok":true}'); });
    try {
      await new Promise<void>((r, f) => { v6.once('error', f); v6.listen(0, '::1', r); });
    } catch {
      v6.close();
      ctx.skip('this machine has no IPv6 loopback (::1)');
    }
    const { port } = v6.address() as net.AddressInfo;
    const c6 = await RestClient.create({ source: 'test', server: new URL(`http://[::1]:${port}`), tls: { rejectUnauthorized: true }, authorization: () => Promise.resolve(undefined) });
    try {
      expect(await c6.get('/healthz', { verbose: true })).toEqual({ ok: true });
      expect(seen.at(-1)!.url).toBe('/healthz?verbose=true');
    } finally {
      c6.close();
      v6.closeAllConnections();
      await new Promise<void>((r) => v6.close(() => r()));
    }
  });

  it('carry a User-Agent naming the operator, its package version, OS and architecture', async () => {
    await client.get('/a');
    await client.apply('/a', {}, 'm');
    const version = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }).version;
    for (const s of seen) expect(s.headers['user-agent']).toBe(`tenant-isolation-operator/${version} (${process.platform === 'win32' ? 'windows' : process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}) node/${process.version}`);
  });

  it('fail with an ApiError that keeps the Status reason and causes', async () => {
    handler = (_req, res) => {
      res.writeHead(422, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 422, reason: 'Invalid', message: 'NetworkPolicy "x" is invalid',
        details: { name: 'x', kind: 'NetworkPolicy', causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: 70000', field: 'spec.ingress[0].ports[0].port' }] },
      }));
    };
    const err = await client.apply('/a', {}, 'm').catch((e: unknown) => e) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.reason).toBe('Invalid');
    expect(err.causes).toEqual([{ reason: 'FieldValueInvalid', message: 'Invalid value: 70000', field: 'spec.ingress[0].ports[0].port' }]);
    expect(err.message).toBe('PATCH /a: 422 NetworkPolicy "x" is invalid (spec.ingress[0].ports[0].port: Invalid value: 70000)');
  });

  it('with a QPS limit, are spaced 1/qps apart after the burst', async () => {
    const limited = await RestClient.create({ source: 'test', server: new URL(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`), tls: { rejectUnauthorized: true }, authorization: () => Promise.resolve(undefined) }, { qps: 20, burst: 2 });
    try {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: 6 }, () => limited.get('/a')));
      // 2 at once, then 4 more 50 ms apart: at least 200 ms.
      expect(performance.now() - t0).toBeGreaterThanOrEqual(195);
      expect(seen).toHaveLength(6);
    } finally { limited.close(); }
  });
});
