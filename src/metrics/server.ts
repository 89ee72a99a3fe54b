// /metrics for Prometheus and /healthz, /readyz for the kubelet, on their own listeners as in
// controller-runtime (--metrics-bind-address, --health-probe-bind-address). Metrics are served over
// HTTPS to authenticated and authorized clients by default (kubebuilder v4's scaffold); plain HTTP only
// when asked (--metrics-secure=false, for development).
import type { Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { http, https } from '../runtime/node-http.ts';
import type { Registry } from 'prom-client';
import type { DelegatedAccess } from './auth.ts';
import type { ServingCertificate } from './certificate.ts';

export type Server = HttpServer | HttpsServer;

export function parseBindAddress(addr: string): { host: string; port: number } | undefined {
  if (addr === '0') return undefined; // "0" disables, as in controller-runtime
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i) || '0.0.0.0';
  const port = Number(addr.slice(i + 1));
  return { host: host.replace(/^\[|\]$/g, ''), port };
}

export async function listen<S extends Server>(server: S, addr: string): Promise<S | undefined> {
  const a = parseBindAddress(addr);
  if (!a) return undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${addr}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`, { cause: e })));
    server.listen(a.port, a.host, resolve);
  });
  return server;
}

export interface SecureMetrics {
  certificate: ServingCertificate;
  access: DelegatedAccess;
  /** Called for refusals the apiserver could not decide (500): the operator logs them. */
  onError?: (message: string, cause: unknown) => void;
}

function serveMetrics(registry: Registry, res: ServerResponse, url: string | undefined): void {
  if (url?.split('?')[0] !== '/metrics') { res.writeHead(404).end(); return; }
  registry.metrics().then((body) => {
    res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
  }, (e: unknown) => { res.writeHead(500).end(String(e)); });
}

/** Without `secure`: plain HTTP, no authentication (development). */
export function metricsServer(registry: Registry, secure?: SecureMetrics): Server {
  if (!secure) return http.createServer((req, res) => serveMetrics(registry, res, req.url));
  const server = https.createServer({ ...secure.certificate.current, minVersion: 'TLSv1.2' }, (req, res) => {
    // Every path is authorized first, so nothing (not even a 404) is told to an unknown client. Node's
    // parser lets through targets the URL parser refuses (`//[`): a throw here would end the process.
    let path: string;
    try { path = new URL(req.url ?? '/', 'https://metrics').pathname; } catch { res.writeHead(400).end(); return; }
    secure.access.check(req.headers.authorization, req.method ?? 'GET', path).then((d) => {
      if (d.allowed) { serveMetrics(registry, res, req.url); return; }
      if (d.status === 500) secure.onError?.(d.message, d.cause);
      res.writeHead(d.status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff', ...(d.status === 429 ? { 'Retry-After': '1' } : {}) }).end(`${d.message}\n`);
    }, (e: unknown) => { res.writeHead(500).end(); secure.onError?.('metrics request failed', e); });
  });
  secure.certificate.onChange((pair) => server.setSecureContext({ ...pair, minVersion: 'TLSv1.2' }));
  server.on('close', () => secure.certificate.close());
  return server;
}

export function healthServer(checks: { healthz: () => string | undefined; readyz: () => string | undefined }): HttpServer {
  return http.createServer((req, res) => {
    const check = req.url === '/healthz' ? checks.healthz : req.url === '/readyz' ? checks.readyz : undefined;
    if (!check) { res.writeHead(404).end(); return; }
    const problem = check();
    res.writeHead(problem ? 500 : 200, { 'Content-Type': 'text/plain' }).end(problem ?? 'ok');
  });
}
