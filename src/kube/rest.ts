// A small REST client over node:https with the kubeconfig's credentials. We use it for every write so
// each one is explicit (server-side apply content type, field manager, force) and counted; reads come
// from informer caches.
import https from 'node:https';
import http from 'node:http';
import type { ClusterAccess } from './config.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}
/** A Kubernetes Status (an error body, or a watch ERROR event's object). */
export interface Status { code?: number; reason?: string; message?: string }

/** The ApiError for a Status answer; `fallback` is what to show when the body carries no message. */
export function statusError(what: string, status: number, s: Status | undefined, fallback: string): ApiError {
  return new ApiError(status, s?.reason ?? 'Unknown', `${what}: ${status} ${s?.message ?? fallback}`);
}


export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;
/** A create found the name taken (409 with reason AlreadyExists, unlike an optimistic-concurrency Conflict). */
export const isAlreadyExists = (e: unknown): boolean => e instanceof ApiError && e.status === 409 && e.reason === 'AlreadyExists';
/** The apiserver refuses creates in a namespace being deleted with 403 NamespaceTerminating-ish messages. */
export const isNamespaceTerminating = (e: unknown): boolean =>
  e instanceof ApiError && e.status === 403 && /being terminated|is terminating/i.test(e.message);

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
  timeoutMs?: number;
}

/** One line of a watch stream. */
export interface WatchEvent<T = unknown> { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T }

export class RestClient {
  private readonly server: URL;
  private readonly agent: https.Agent | http.Agent;
  /** Watches hold a connection each for minutes: their own pool, so they never starve requests. */
  private readonly watchAgent: https.Agent | http.Agent;
  private readonly writeListeners: WriteListener[] = [];
  private readonly access: ClusterAccess;

  private constructor(access: ClusterAccess) {
    this.access = access;
    this.server = access.server;
    const agent = (maxSockets: number): https.Agent | http.Agent => (this.server.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, maxSockets, ...access.tls })
      : new http.Agent({ keepAlive: true, maxSockets }));
    this.agent = agent(32);
    this.watchAgent = agent(Infinity);
  }

  static create(access: ClusterAccess): Promise<RestClient> { return Promise.resolve(new RestClient(access)); }

  private async headers(): Promise<Record<string, string>> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    // Per request, so rotated service-account tokens are picked up.
    const auth = await this.access.authorization();
    if (auth) headers.Authorization = auth;
    return headers;
  }

  private url(path: string, query: RequestOptions['query']): URL {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  onWrite(listener: WriteListener): void { this.writeListeners.push(listener); }

  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const url = this.url(path, o.query);
    const headers = await this.headers();
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['Content-Type'] = o.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const lib = url.protocol === 'https:' ? https : http;
    return await new Promise<T>((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.agent, timeout: o.timeoutMs ?? 30_000 }, (res) => {
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
          reject(statusError(`${method} ${url.pathname}`, status, parsed as Status | undefined, text.slice(0, 300)));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', (e) => reject(new Error(`${method} ${url.pathname}: ${e.message}`, { cause: e })));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> { return this.request<T>('GET', path, { query }); }

  /**
   * Streams a watch: `onEvent` gets each event as it arrives. Resolves when the server ends the stream
   * (its timeoutSeconds), rejects on a transport error or a non-2xx answer. Abort with `signal`.
   */
  async watch<T>(path: string, query: RequestOptions['query'], onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const url = this.url(path, { ...query, watch: true });
    const headers = await this.headers();
    const lib = url.protocol === 'https:' ? https : http;
    await new Promise<void>((resolve, reject) => {
      let failure: Error | undefined; // what the event handler threw: the watch ends with exactly that error
      const req = lib.request(url, { method: 'GET', headers, agent: this.watchAgent, signal }, (res) => {
        const status = res.statusCode ?? 0;
        res.setEncoding('utf8'); // decodes characters split across chunks
        let buffered = '';
        if (status < 200 || status >= 300) {
          // A connection that drops mid-answer must fail the watch too, or the informer would wait for ever.
          res.on('error', (e) => reject(e));
          res.on('close', () => { if (!res.complete) reject(new Error(`WATCH ${url.pathname}: ${status}, connection closed`)); });
          res.on('data', (c: string) => { if (buffered.length < 4096) buffered += c; });
          res.on('end', () => {
            let s: Status | undefined;
            try { s = JSON.parse(buffered) as Status; } catch { /* not a Status */ }
            reject(statusError(`WATCH ${url.pathname}`, status, s, buffered.slice(0, 300)));
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
    const r = await this.request<T>(method, path, o);
    for (const l of this.writeListeners) l(verb, path);
    return r;
  }

  /** Server-side apply (JSON is YAML, so the apply content type takes it as is). */
  apply<T>(path: string, obj: unknown, fieldManager: string, force = true): Promise<T> {
    return this.write('apply', 'PATCH', path, { body: obj, contentType: 'application/apply-patch+yaml', query: { fieldManager, force } });
  }
  create<T>(path: string, obj: unknown, fieldManager: string): Promise<T> { return this.write('create', 'POST', path, { body: obj, query: { fieldManager } }); }
  update<T>(path: string, obj: unknown, fieldManager: string): Promise<T> { return this.write('update', 'PUT', path, { body: obj, query: { fieldManager } }); }
  mergePatch<T>(path: string, patch: unknown, fieldManager: string): Promise<T> {
    return this.write('patch', 'PATCH', path, { body: patch, contentType: 'application/merge-patch+json', query: { fieldManager } });
  }
  jsonPatch<T>(path: string, ops: unknown[], fieldManager: string): Promise<T> {
    return this.write('patch', 'PATCH', path, { body: ops, contentType: 'application/json-patch+json', query: { fieldManager } });
  }
  delete<T>(path: string, body?: unknown): Promise<T> { return this.write('delete', 'DELETE', path, { body }); }

  close(): void { this.agent.destroy(); this.watchAgent.destroy(); }
}
