// A TCP proxy a test can pause: a network partition between one client and the apiserver, on loopback.
//
// pause(): nothing passes in either direction, on connections open at that moment and on new ones; no
// connection is closed. Bytes sent meanwhile are held, as a sender's TCP holds unacknowledged data and
// retransmits it after the partition heals.
// resume(): held bytes are delivered and forwarding goes on (a partition that healed), except
//   - on connections the client reset (RST) while paused: a reset sender retransmits nothing, so what
//     it had sent is dropped;
//   - with { halfOpen: true }, on connections that were open when pause() was called: they stay silent
//     for ever, never closed (a middlebox that lost their state; the case a watch watchdog is for).
// Closes (FIN) are held and delivered like bytes.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ClusterAccess } from '../../src/kube/config.ts';

interface Conn {
  client: net.Socket;
  upstream: net.Socket | undefined;
  toUpstream: Buffer[];
  toClient: Buffer[];
  clientEnded: boolean;
  upstreamEnded: boolean;
  /** The client reset the connection while paused: drop what it sent. */
  reset: boolean;
  /** Open when pause() was called. */
  openAtPause: boolean;
  /** Black-holed for good (resume({ halfOpen: true })). */
  dead: boolean;
}

export interface PausingProxy {
  /** The port to connect to on 127.0.0.1. */
  port: number;
  pause(): void;
  resume(o?: { halfOpen?: boolean }): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections not yet closed on both sides. */
  readonly open: number;
  /** Bytes held now, both directions. */
  readonly heldBytes: number;
  /** Bytes from clients dropped because the client reset its connection while paused. */
  readonly droppedBytes: number;
  /** Closes every connection at once (both sides see the connection end), without pausing. */
  severAll(): void;
  close(): Promise<void>;
}

export async function startPausingProxy(target: { host: string; port: number }): Promise<PausingProxy> {
  const conns = new Set<Conn>();
  let paused = false;
  let accepted = 0;
  let droppedBytes = 0;

  /** Forgets a connection once both sides are closed (a paused one waits for resume to flush it). */
  const maybeDone = (c: Conn): void => {
    if (paused && !c.dead) return;
    if (c.client.destroyed && (c.upstream === undefined || c.upstream.destroyed)) conns.delete(c);
  };

  const connectUpstream = (c: Conn): void => {
    const up = net.connect(target);
    c.upstream = up;
    up.on('data', (d: Buffer) => {
      if (c.dead) return;
      if (paused) c.toClient.push(d); else c.client.write(d);
    });
    up.on('end', () => { c.upstreamEnded = true; if (!paused && !c.dead) c.client.end(); });
    up.on('error', () => undefined);
    up.on('close', () => {
      if (!paused && !c.dead) c.client.destroy();
      maybeDone(c);
    });
    for (const d of c.toUpstream.splice(0)) up.write(d);
    if (c.clientEnded || c.client.destroyed) up.end();
  };

  /** On resume: deliver what was held, or drop it if the client reset the connection. */
  const flush = (c: Conn): void => {
    if (c.dead) return;
    if (c.reset) {
      droppedBytes += c.toUpstream.reduce((n, b) => n + b.length, 0);
      c.toUpstream = [];
      c.upstream?.destroy();
      conns.delete(c);
      return;
    }
    if (!c.upstream) connectUpstream(c);
    else {
      for (const d of c.toUpstream.splice(0)) c.upstream.write(d);
      if (c.clientEnded || c.client.destroyed) c.upstream.end();
    }
    for (const d of c.toClient.splice(0)) c.client.write(d);
    if (c.upstreamEnded) c.client.end();
    if (c.upstream?.destroyed && !c.upstreamEnded) c.client.destroy();
    maybeDone(c);
  };

  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    accepted++;
    const c: Conn = { client, upstream: undefined, toUpstream: [], toClient: [], clientEnded: false, upstreamEnded: false, reset: false, openAtPause: false, dead: false };
    conns.add(c);
    client.on('data', (d: Buffer) => {
      if (c.dead) return;
      if (paused || !c.upstream) c.toUpstream.push(d); else c.upstream.write(d);
    });
    client.on('end', () => {
      c.clientEnded = true;
      if (c.dead) client.destroy();
      else if (!paused) c.upstream?.end();
    });
    client.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'ECONNRESET' && paused) c.reset = true; });
    client.on('close', () => {
      if (c.dead) c.upstream?.destroy();
      else if (paused) return; // held: flush() decides
      // Closed without FIN while forwarding (a reset, or destroyed mid-stream): so is the upstream side.
      else if (!c.clientEnded) c.upstream?.destroy();
      maybeDone(c);
    });
    if (!paused) connectUpstream(c);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get accepted() { return accepted; },
    get open() { return conns.size; },
    get droppedBytes() { return droppedBytes; },
    get heldBytes() { let n = 0; for (const c of conns) for (const b of [...c.toUpstream, ...c.toClient]) n += b.length; return n; },
    pause() {
      paused = true;
      for (const c of conns) c.openAtPause = true;
    },
    resume(o = {}) {
      paused = false;
      for (const c of [...conns]) {
        if (o.halfOpen && c.openAtPause) { c.dead = true; c.toClient = []; c.toUpstream = []; }
        c.openAtPause = false;
        flush(c);
        maybeDone(c);
      }
    },
    severAll() {
      for (const c of conns) { c.client.destroy(); c.upstream?.destroy(); }
      conns.clear();
    },
    async close() {
      for (const c of conns) { c.client.destroy(); c.upstream?.destroy(); }
      conns.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * An HTTP proxy in front of the apiserver (plain HTTP to the test's client, the cluster's credentials
 * upstream) that can answer every watch with an empty 200 that ends at once: what an L7 load balancer
 * with a short stream limit, or an apiserver shutting down, does to watches.
 */
export interface WatchEndingProxy {
  url: URL;
  /** While true (the default), watches end at once; false forwards them. */
  endWatches: boolean;
  /** Watch requests seen (ended or forwarded). */
  readonly watches: number;
  /** performance.now() at each watch request. */
  readonly watchTimes: readonly number[];
  /** Other requests seen (lists). */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startWatchEndingProxy(upstream: ClusterAccess): Promise<WatchEndingProxy> {
  let watches = 0;
  let requests = 0;
  const watchTimes: number[] = [];
  const agent = new https.Agent({ keepAlive: true, ...upstream.tls });
  const state = { endWatches: true };
  const server = http.createServer((req, res) => {
    const isWatch = /[?&]watch=(true|1)(&|$)/.test(req.url ?? '');
    if (isWatch) { watches++; watchTimes.push(performance.now()); } else requests++;
    if (isWatch && state.endWatches) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end();
      return;
    }
    void upstream.authorization().then((auth) => {
      const headers = { ...req.headers, host: upstream.server.host, ...(auth ? { authorization: auth } : {}) };
      const up = https.request(new URL(req.url ?? '/', upstream.server), { method: req.method, headers, agent }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      });
      up.on('error', () => res.destroy());
      res.on('close', () => up.destroy());
      req.pipe(up);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}`),
    get endWatches() { return state.endWatches; },
    set endWatches(v: boolean) { state.endWatches = v; },
    get watches() { return watches; },
    get watchTimes() { return watchTimes; },
    get requests() { return requests; },
    async close() {
      server.closeAllConnections();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
