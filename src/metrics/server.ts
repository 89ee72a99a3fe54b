// /metrics for Prometheus and /healthz, /readyz for the kubelet, on their own listeners as in
// controller-runtime (--metrics-bind-address, --health-probe-bind-address).
import http from 'node:http';
import type { Registry } from 'prom-client';

export function parseBindAddress(addr: string): { host: string; port: number } | undefined {
  if (addr === '0') return undefined; // "0" disables, as in controller-runtime
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i) || '0.0.0.0';
  const port = Number(addr.slice(i + 1));
  return { host: host.replace(/^\[|\]$/g, ''), port };
}

export async function listen(server: http.Server, addr: string): Promise<http.Server | undefined> {
  const a = parseBindAddress(addr);
  if (!a) return undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen on ${addr}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`, { cause: e })));
    server.listen(a.port, a.host, resolve);
  });
  return server;
}

export function metricsServer(registry: Registry): http.Server {
  return http.createServer((req, res) => {
    if (req.url !== '/metrics') { res.writeHead(404).end(); return; }
    registry.metrics().then((body) => {
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(body);
    }, (e: unknown) => { res.writeHead(500).end(String(e)); });
  });
}

export function healthServer(checks: { healthz: () => string | undefined; readyz: () => string | undefined }): http.Server {
  return http.createServer((req, res) => {
    const check = req.url === '/healthz' ? checks.healthz : req.url === '/readyz' ? checks.readyz : undefined;
    if (!check) { res.writeHead(404).end(); return; }
    const problem = check();
    res.writeHead(problem ? 500 : 200, { 'Content-Type': 'text/plain' }).end(problem ?? 'ok');
  });
}
