// The test harness's pausing proxy, against a local recording server: the partition semantics the
// leader-election and watch tests rely on.
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startPausingProxy, type PausingProxy } from '../harness/proxy.ts';

let server: net.Server;
let received: string[];
let serverSockets: net.Socket[];
let proxy: PausingProxy;

beforeEach(async () => {
  received = [];
  serverSockets = [];
  server = net.createServer((s) => {
    serverSockets.push(s);
    s.on('data', (d) => { received.push(d.toString()); s.write(`ack ${d.toString()}`); });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy = await startPausingProxy({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
});
afterEach(async () => {
  await proxy.close();
  for (const s of serverSockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const until = async (cond: () => boolean): Promise<void> => { while (!cond()) await new Promise((r) => setTimeout(r, 5)); };

async function connect(): Promise<{ socket: net.Socket; got: string[] }> {
  const socket = net.connect(proxy.port, '127.0.0.1');
  const got: string[] = [];
  socket.on('data', (d) => got.push(d.toString()));
  socket.on('error', () => undefined);
  await new Promise((r) => socket.once('connect', r));
  return { socket, got };
}

/** A round trip on another connection: once it is back, the proxy has handled everything sent before. */
async function roundTrip(tag: string): Promise<void> {
  const c = await connect();
  c.socket.write(tag);
  await until(() => c.got.join('') === `ack ${tag}`);
  c.socket.destroy();
}

describe('pausing proxy', () => {
  it('forwards both ways while not paused', async () => {
    const c = await connect();
    c.socket.write('one');
    await until(() => c.got.join('') === 'ack one');
    expect(received).toEqual(['one']);
    c.socket.destroy();
  });

  it('holds bytes of open and new connections while paused, and delivers them on resume', async () => {
    const old = await connect();
    old.socket.write('a');
    await until(() => old.got.length === 1);
    proxy.pause();
    old.socket.write('b');
    const fresh = await connect();
    fresh.socket.write('c');
    await until(() => proxy.heldBytes === 2); // 'b' and 'c' reached the proxy and stay there
    expect(received).toEqual(['a']);
    expect(old.got).toEqual(['ack a']);
    proxy.resume();
    await until(() => old.got.join('') === 'ack aack b' && fresh.got.join('') === 'ack c');
    expect(received.sort()).toEqual(['a', 'b', 'c']);
    expect(proxy.heldBytes).toBe(0);
  });

  it('drops what a client sent while paused if it reset the connection; a FIN-closed one is still delivered', async () => {
    proxy.pause();
    const reset = await connect();
    reset.socket.write('reset-me');
    const fin = await connect();
    fin.socket.write('deliver-me');
    await until(() => proxy.accepted === 2);
    reset.socket.resetAndDestroy();
    fin.socket.end();
    await until(() => reset.socket.destroyed && fin.socket.writableFinished);
    // Let the proxy see the reset and the FIN: a third connection's accept is handled after them.
    const c3 = await connect();
    c3.socket.destroy();
    proxy.resume();
    await until(() => received.includes('deliver-me'));
    await roundTrip('after');
    expect(received).not.toContain('reset-me');
    expect(proxy.droppedBytes).toBe('reset-me'.length);
  });

  it('with halfOpen, connections open at pause stay silent for ever while new ones work', async () => {
    const old = await connect();
    proxy.pause();
    proxy.resume({ halfOpen: true });
    old.socket.write('lost');
    await roundTrip('new');
    expect(received).toEqual(['new']);
    expect(old.got).toEqual([]);
    expect(old.socket.destroyed).toBe(false);
    old.socket.destroy();
    await until(() => proxy.open === 0);
  });
});
