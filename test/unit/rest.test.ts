// RestClient against a local HTTP server that answers as the test tells it: what reaches the socket,
// and what the client makes of the answers.
import http from 'node:http';
import type net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RestClient, WritesFencedError } from '../../src/kube/rest.ts';

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
