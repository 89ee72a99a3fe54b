// A small REST client over node:https with the kubeconfig's credentials. We use it for every write so
// each one is explicit (server-side apply content type, field manager, force) and counted; reads come
// from informer caches.
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

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

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;
/** The apiserver refuses creates in a namespace being deleted with 403 NamespaceTerminating-ish messages. */
export const isNamespaceTerminating = (e: unknown): boolean =>
  e instanceof ApiError && e.status === 403 && /being terminated|is terminating/i.test(e.message);

export type WriteVerb = 'apply' | 'update' | 'patch' | 'delete' | 'create';
export type WriteListener = (verb: WriteVerb, path: string) => void;

export interface RequestOptions {
  body?: unknown;
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  timeoutMs?: number;
}

export class RestClient {
  private readonly server: URL;
  private readonly agent: https.Agent | http.Agent;
  private readonly writeListeners: WriteListener[] = [];

  private readonly kc: KubeConfig;

  private constructor(kc: KubeConfig, server: URL, agent: https.Agent | http.Agent) {
    this.kc = kc;
    this.server = server;
    this.agent = agent;
  }

  static async create(kc: KubeConfig): Promise<RestClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const server = new URL(cluster.server);
    const opts: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    const agent = server.protocol === 'https:'
      ? new https.Agent({ keepAlive: true, maxSockets: 32, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
    return new RestClient(kc, server, agent);
  }

  onWrite(listener: WriteListener): void { this.writeListeners.push(listener); }

  async request<T = unknown>(method: string, path: string, o: RequestOptions = {}): Promise<T> {
    const url = new URL(path, this.server);
    for (const [k, v] of Object.entries(o.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { Accept: 'application/json' };
    // Per request, so rotated service-account tokens are picked up.
    const auth: https.RequestOptions = {};
    await this.kc.applyToHTTPSOptions(auth);
    Object.assign(headers, auth.headers as Record<string, string> | undefined);
    let payload: string | undefined;
    if (o.body !== undefined) {
      payload = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
      headers['Content-Type'] = o.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(payload));
    }
    const lib = url.protocol === 'https:' ? https : http;
    return await new Promise<T>((resolve, reject) => {
      const req = lib.request(url, { method, headers, agent: this.agent, timeout: o.timeoutMs ?? 30_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          let parsed: unknown;
          try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
          if (status >= 200 && status < 300) { resolve(parsed as T); return; }
          const s = (parsed ?? {}) as { reason?: string; message?: string };
          reject(new ApiError(status, s.reason ?? 'Unknown', `${method} ${url.pathname}: ${status} ${s.message ?? text.slice(0, 300)}`));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on('error', (e) => reject(new Error(`${method} ${url.pathname}: ${e.message}`, { cause: e })));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> { return this.request<T>('GET', path, { query }); }

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

  close(): void { this.agent.destroy(); }
}
