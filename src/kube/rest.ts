// A small REST client over node:https with the kubeconfig's credentials. We use it for every write so
// each one is explicit (server-side apply content type, field manager, force) and counted; reads come
// from informer caches.
import type { Agent, ClientRequest } from 'node:http';
import { http, https } from '../runtime/node-http.ts';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterAccess } from './config.ts';
import { apiErrorOf, statusError } from './api-errors.ts';
import { userAgent } from './user-agent.ts';
import { TokenBucketRateLimiter } from '../queue/rate-limiter.ts';

export {
  ApiError, statusError, apiErrorOf, isNotFound, isConflict, isAlreadyExists, isInvalid, isForbidden, isGone, isTooManyRequests,
  isNamespaceTerminating, type Status, type StatusCause,
} from './api-errors.ts';

/** A write refused because this process may no longer write (it lost, or never held, the leader lease). */
export class WritesFencedError extends Error {
  constructor(message: string) { super(message); this.name = 'WritesFencedError'; }
}

export type WriteVerb = 'apply' | 'update' | 'patch' | 'delete' | 'create';

/** The resource (plural, with a subresource after a slash) an API path names, e.g. "networkpolicies" or "tenantisolations/status". */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  // /api/v1/... or /apis/<group>/<version>/...; then optionally namespaces/<ns>/ before the resource.
  let i = parts[0] === 'api' ? 2 : 3;
  if (parts[i] === 'namespaces' && parts.length > i + 2) i += 2;
  const sub = parts[i + 2];
  return `${parts[i] ?? ''}${sub ? `/${sub}` : ''}`;
}
export type WriteListener = (verb: WriteVerb, path: string) => void;

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Idle socket timeout (default 30 s). */
  timeoutMs?: number;
  /** Aborts the request, e.g. `AbortSignal.timeout(ms)` for a deadline on the whole exchange. */
  signal?: AbortSignal;
}

export type WriteOptions = Pick<RequestOptions, 'signal' | 'timeoutMs'>;

export interface RestClientOptions {
  /** Client-side rate limit in requests per second; 0 or less: none (the apiserver's APF decides). */
  qps?: number;
  /** Requests allowed at once above the rate (with qps > 0). */
  burst?: number;
  /** Retries of a request answered 429, or 503/504 with Retry-After (default 5). */
  maxRetries?: number;
  /** How long a watch may be silent before informers on this client restart it (their default). */
  watchSilenceLimitMs?: number;
}

/** The longest Retry-After we honour as given; longer asks are waited this long. */
export const MAX_RETRY_AFTER_MS = 30_000;

/**
 * How long to wait before sending a request again, or undefined to give up. 429 means the apiserver
 * (APF, max-inflight) refused it unprocessed: any request may be retried. A 503/504 with Retry-After may
 * have been processed: only requests that are safe to repeat are (reads, PUT, DELETE, apply and merge
 * patches; not POST, not JSON patch).
 */
export function retryDelayMs(err: unknown, method: string, contentType: string | undefined, attempt: number, maxRetries: number): number | undefined {
  const a = apiErrorOf(err);
  if (!a || attempt >= maxRetries) return undefined;
  const repeatable = method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE'
    || (method === 'PATCH' && (contentType === 'application/apply-patch+yaml' || contentType === 'application/merge-patch+json'));
  if (a.status === 429) return Math.min(MAX_RETRY_AFTER_MS, (a.retryAfterSeconds ?? 1) * 1000);
  if ((a.status === 503 || a.status === 504) && a.retryAfterSeconds !== undefined && repeatable) return Math.min(MAX_RETRY_AFTER_MS, a.retryAfterSeconds * 1000);
  return undefined;
}

/** Retry-After in seconds (the apiserver sends whole seconds; an HTTP date is not honoured). */
const retryAfter = (h: string | string[] | undefined): number | undefined => {
  const v = Array.isArray(h) ? h[0] : h;
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
};

/** One line of a watch stream. */
export interface WatchEvent<T = unknown> { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T }

export class RestClient {
  private readonly server: URL;
  private readonly origin: { protocol: string; hostname: string; port: number };
  private readonly lib: typeof https | typeof http;
  private readonly agent: Agent;
  /** Watches hold a connection each for minutes: their own pool, so they never starve requests. */
  private readonly watchAgent: Agent;
  private readonly writeListeners: WriteListener[] = [];
  private readonly access: ClusterAccess;
  /** The TCP socket under each TLS socket: only a TCP socket can be reset (RST), see fenceWrites. */
  private readonly tcpOf = new WeakMap<net.Socket, net.Socket>();
  /** Writes whose request exists, until their response ends. */
  private readonly inFlightWrites = new Set<ClientRequest>();
  /** Writes fenceWrites reset: they fail with WritesFencedError, whatever the socket reports. */
  private readonly resetWrites = new WeakSet<ClientRequest>();
  /** performance.now() after which writes are refused; undefined: no gate (no leader election). */
  private writesAllowedUntil: number | undefined;
  private fenced: string | undefined;
  private readonly limiter: TokenBucketRateLimiter | undefined;
  private readonly maxRetries: number;
  private readonly userAgent = userAgent();
  readonly watchSilenceLimitMs: number | undefined;

  private constructor(access: ClusterAccess, o: RestClientOptions) {
    this.limiter = o.qps !== undefined && o.qps > 0 ? new TokenBucketRateLimiter(o.qps, Math.max(1, o.burst ?? 10), () => performance.now()) : undefined;
    this.maxRetries = o.maxRetries ?? 5;
    this.watchSilenceLimitMs = o.watchSilenceLimitMs;
    this.access = access;
    this.server = access.server;
    // An IPv6 literal is bracketed in a URL, not in request options.
    const host = this.server.hostname;
    this.origin = {
      protocol: this.server.protocol, hostname: host.startsWith('[') ? host.slice(1, -1) : host,
      port: Number(this.server.port || (this.server.protocol === 'https:' ? 443 : 80)),
    };
    this.lib = this.server.protocol === 'https:' ? https : http;
    const agent = (maxSockets: number, tcpKeepAliveMs?: number): Agent => {
      const a = this.server.protocol === 'https:'
        ? new https.Agent({ keepAlive: true, maxSockets, ...access.tls })
        : new http.Agent({ keepAlive: true, maxSockets });
      // Our own TCP socket under TLS, remembered, so it can be reset; TCP keepalive where asked for.
      const create = a.createConnection.bind(a) as (o: Record<string, unknown>, cb?: unknown) => net.Socket;
      a.createConnection = (o: Record<string, unknown>, cb?: unknown) => {
        const tcp = net.connect({ host: o.host as string, port: Number(o.port), family: o.family as number | undefined });
        if (tcpKeepAliveMs !== undefined) tcp.setKeepAlive(true, tcpKeepAliveMs);
        if (this.server.protocol !== 'https:') return tcp;
        const s = create({ ...o, socket: tcp }, cb);
        this.tcpOf.set(s, tcp);
        return s;
      };
      return a;
    };
    this.agent = agent(32);
    // A watch may be silent for minutes: TCP keepalive notices a peer that is gone (probes after 30 s
    // idle, then every second, 10 tries); a peer that is up but forwards nothing is the informer
    // watchdog's job.
    this.watchAgent = agent(Infinity, 30_000);
  }

  static create(access: ClusterAccess, o: RestClientOptions = {}): Promise<RestClient> { return Promise.resolve(new RestClient(access, o)); }

  /** Waits for a token of the client-side rate limit, if there is one. */
  private async throttle(signal: AbortSignal | undefined): Promise<void> {
    const wait = this.limiter?.when() ?? 0;
    if (wait > 0) await sleep(wait, undefined, { signal });
  }

  private async headers(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.userAgent };
    // Per request, so rotated service-account tokens are picked up.
    const auth = await this.access.authorization();
    if (auth) headers.Authorization = auth;
    return headers;
  }

  /**
   * The request's target: the server's origin, the path and the query. Built as strings (a URL object and
   * its conversion back to request options cost every request more than the rest of this client's code).
   * As `new URL(path, server)` did, an absolute path replaces any path in the server's URL.
   */
  private target(path: string, query: RequestOptions['query']): { options: { protocol: string; hostname: string; port: number; path: string }; pathname: string } {
    const pathname = path.split('?', 1)[0]!;
    const params = new URLSearchParams(path.includes('?') ? path.slice(pathname.length + 1) : undefined);
    for (const k in query) { const v = query[k]; if (v !== undefined) params.set(k, String(v)); }
    const search = params.size > 0 ? `?${params.toString()}` : '';
    return { options: { ...this.origin, path: `${pathname}${search}` }, pathname };
  }

  onWrite(listener: WriteListener): void { this.writeListeners.push(listener); }

  /**
   * Writes are refused from `performance.now()` = `until` on (a leader's renew deadline), checked just
   * before each write is handed to the socket: by construction, not by a timer that might fire late.
   */
  allowWritesUntil(until: number): void { this.writesAllowedUntil = until; }

  /**
   * Closes the write fence for good: later writes throw WritesFencedError before reaching a socket, and
   * writes in flight are reset (TCP RST), so a request stuck in a partitioned network is dropped by the
   * kernel instead of being delivered once the network heals.
   */
  fenceWrites(reason: string): void {
    if (this.fenced !== undefined) return;
    this.fenced = reason;
    this.writesAllowedUntil = -Infinity;
    for (const req of this.inFlightWrites) {
      this.resetWrites.add(req);
      const s = req.socket;
      const tcp = s ? this.tcpOf.get(s) ?? s : undefined;
      // Reset first: a plain destroy() would close with FIN, and a request held by a partitioned network
      // would then still be delivered after it heals.
      if (tcp && !tcp.destroyed) { try { tcp.resetAndDestroy(); } catch { tcp.destroy(); } }
      req.destroy();
    }
    this.inFlightWrites.clear();
  }

  get writesFenced(): boolean { return this.fenced !== undefined; }

  private checkWriteFence(method: string, path: string): void {
    if (this.fenced === undefined && (this.writesAllowedUntil === undefined || performance.now() < this.writesAllowedUntil)) return;
    throw new WritesFencedError(`${method} ${path}: refused, ${this.fenced ?? 'the leader lease is not held'}`);
  }

  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    return this.send<T>(method, path, o, false);
  }

  /** When the credential was last refreshed after a 401 (performance.now()). */
  private refreshedAt = -Infinity;
  /** Bumped by each refresh: a request refused with a credential older than the current one is sent again. */
  private credentialGeneration = 0;

  /**
   * A 401: asks for a fresh credential (a revoked or expired plugin token) where one can be had, at most
   * every 10 s (a credential that stays refused must not run the plugin per request). True when it did.
   */
  private refreshAfter401(err: unknown): boolean {
    if (apiErrorOf(err)?.status !== 401 || !this.access.refreshAuthorization) return false;
    const now = performance.now();
    if (now - this.refreshedAt < 10_000) return false;
    this.refreshedAt = now;
    this.credentialGeneration++;
    this.access.refreshAuthorization();
    return true;
  }

  /** One request, sent again (within bounds) when the server asks for a retry. */
  private async send<T>(method: string, path: string, o: RequestOptions, isWrite: boolean): Promise<T> {
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      await this.throttle(o.signal);
      const generation = this.credentialGeneration;
      try {
        return await this.sendOnce<T>(method, path, o, isWrite);
      } catch (err) {
        // Refused before anything was done (authentication comes first): any verb may be sent again,
        // once, with a fresh credential, or with the one another request's 401 already fetched.
        if (!refreshed && (this.refreshAfter401(err) || (apiErrorOf(err)?.status === 401 && generation !== this.credentialGeneration))) { refreshed = true; continue; }
        const wait = retryDelayMs(err, method, o.contentType, attempt, this.maxRetries);
        if (wait === undefined) throw err;
        await sleep(wait, undefined, { signal: o.signal });
      }
    }
  }

  private async sendOnce<T>(method: string, path: string, o: RequestOptions, isWrite: boolean): Promise<T> {
    const url = this.target(path, o.query);
    const headers = await this.headers();
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['Content-Type'] = o.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    // Synchronously before the request exists, and again when it gets a socket (below).
    if (isWrite) this.checkWriteFence(method, url.pathname);
    return await new Promise<T>((resolve, reject) => {
      const req = this.lib.request({ ...url.options, method, headers, agent: this.agent, timeout: o.timeoutMs ?? 30_000, signal: o.signal }, (res) => {
        // Decoded as it arrives, into JS strings: a Buffer.concat of a large list page would be one more
        // big malloc'd block per response, and those fragment the C heap for good (RSS that never returns).
        res.setEncoding('utf8');
        let chunks: string[] = [];
        res.on('data', (c: string) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = chunks.length === 1 ? chunks[0]! : chunks.join('');
          // A keep-alive socket keeps its last request (and this closure) reachable until reused: without
          // this, every pooled socket held on to its last response body (45 MB for a 10 000-object list).
          chunks = [];
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
          if (status >= 200 && status < 300) { resolve(parsed as T); return; }
          reject(statusError(`${method} ${url.pathname}`, status, parsed, text.slice(0, 300), retryAfter(res.headers['retry-after'])));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', (e) => {
        if (e instanceof WritesFencedError) reject(e);
        else if (this.resetWrites.has(req)) reject(new WritesFencedError(`${method} ${url.pathname}: write in flight reset: ${this.fenced}`));
        else reject(new Error(`${method} ${url.pathname}: ${e.message}`, { cause: e }));
      });
      if (isWrite) {
        this.inFlightWrites.add(req);
        req.once('close', () => this.inFlightWrites.delete(req));
        // Again when a socket is assigned, before the buffered request is flushed to it: a write may have
        // waited for one of the agent's sockets past the lease's renew deadline.
        req.once('socket', () => { try { this.checkWriteFence(method, url.pathname); } catch (e) { req.destroy(e as Error); } });
      }
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T>(path: string, query?: RequestOptions['query'], o: Pick<RequestOptions, 'signal' | 'timeoutMs'> = {}): Promise<T> {
    return this.request<T>('GET', path, { ...o, query });
  }

  /**
   * Streams a watch: `onEvent` gets each event as it arrives. Resolves when the server ends the stream
   * (its timeoutSeconds), rejects on a transport error or a non-2xx answer. Abort with `signal`.
   */
  async watch<T>(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const url = this.target(path, { ...query, watch: true });
    await this.throttle(signal);
    const headers = await this.headers();
    await new Promise<void>((resolve, reject) => {
      let failure: Error | undefined; // what the event handler threw: the watch ends with exactly that error
      const req = this.lib.request({ ...url.options, method: 'GET', headers, agent: this.watchAgent, signal }, (res) => {
        const status = res.statusCode ?? 0;
        res.setEncoding('utf8'); // decodes characters split across chunks
        let buffered = '';
        if (status < 200 || status >= 300) {
          // A connection that drops mid-answer must fail the watch too, or the informer would wait for ever.
          res.on('error', (e) => reject(e));
          res.on('close', () => { if (!res.complete) reject(new Error(`WATCH ${url.pathname}: ${status}, connection closed`)); });
          res.on('data', (c: string) => { if (buffered.length < 4096) buffered += c; });
          res.on('end', () => {
            let s: unknown;
            try { s = JSON.parse(buffered); } catch { /* not a Status */ }
            const e = statusError(`WATCH ${url.pathname}`, status, s, buffered.slice(0, 300), retryAfter(res.headers['retry-after']));
            this.refreshAfter401(e); // the informer's next try gets a fresh credential
            reject(e);
          });
          return;
        }
        res.on('data', (c: string) => {
          buffered += c;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl);
            buffered = buffered.slice(nl + 1);
            if (line.trim() === '') continue;
            let event: WatchEvent<T>;
            try { event = JSON.parse(line) as WatchEvent<T>; } catch { req.destroy(new Error(`WATCH ${url.pathname}: malformed event`)); return; }
            try { onEvent(event); } catch (e) { failure = e instanceof Error ? e : new Error(String(e)); req.destroy(); reject(failure); return; }
          }
        });
        res.on('error', (e) => reject(failure ?? e));
        res.on('end', () => resolve());
        res.on('close', () => { if (!res.complete) reject(failure ?? new Error(`WATCH ${url.pathname}: connection closed`)); });
      });
      req.on('error', (e) => reject(failure ?? new Error(`WATCH ${url.pathname}: ${e.message}`, { cause: e })));
      req.end();
    });
  }

  private async write<T>(verb: WriteVerb, method: string, path: string, o: RequestOptions): Promise<T> {
    const r = await this.send<T>(method, path, o, true);
    for (const l of this.writeListeners) l(verb, path);
    return r;
  }

  /** Server-side apply (JSON is YAML, so the apply content type takes it as is). */
  apply<T>(path: string, obj: unknown, fieldManager: string, force = true, o: WriteOptions = {}): Promise<T> {
    return this.write('apply', 'PATCH', path, { ...o, body: obj, contentType: 'application/apply-patch+yaml', query: { fieldManager, force } });
  }
  create<T>(path: string, obj: unknown, fieldManager: string, o: WriteOptions = {}): Promise<T> {
    return this.write('create', 'POST', path, { ...o, body: obj, query: { fieldManager } });
  }
  update<T>(path: string, obj: unknown, fieldManager: string, o: WriteOptions = {}): Promise<T> {
    return this.write('update', 'PUT', path, { ...o, body: obj, query: { fieldManager } });
  }
  mergePatch<T>(path: string, patch: unknown, fieldManager: string, o: WriteOptions = {}): Promise<T> {
    return this.write('patch', 'PATCH', path, { ...o, body: patch, contentType: 'application/merge-patch+json', query: { fieldManager } });
  }
  jsonPatch<T>(path: string, ops: unknown[], fieldManager: string, o: WriteOptions = {}): Promise<T> {
    return this.write('patch', 'PATCH', path, { ...o, body: ops, contentType: 'application/json-patch+json', query: { fieldManager } });
  }
  delete<T>(path: string, body?: unknown, o: WriteOptions = {}): Promise<T> { return this.write('delete', 'DELETE', path, { ...o, body }); }

  close(): void { this.agent.destroy(); this.watchAgent.destroy(); }
}
