// /metrics as kubebuilder v4 serves it: HTTPS, and only for clients the real apiserver authenticates
// (TokenReview) and authorizes for GET /metrics (SubjectAccessReview). The operator runs as its shipped
// ServiceAccount, so config/rbac is proven to allow the reviews; scrapers are real ServiceAccounts.
import https from 'node:https';
import http from 'node:http';
import { X509Certificate } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, eventually, kubectl, startTestOperator, unique } from '../harness/cluster.ts';
import { tempDirs } from '../harness/tmp.ts';
import { selfSignedCertificate } from '../../src/metrics/self-signed.ts';
import type { RunningOperator } from '../../src/cli/run.ts';

const tmp = tempDirs();

interface Answer { status: number; body: string; certificate: X509Certificate | undefined }

function get(url: string, o: { token?: string; ca?: string; method?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(u, {
      method: o.method ?? 'GET', headers: o.token ? { Authorization: `Bearer ${o.token}` } : {},
      // With a CA the certificate is verified; without one the test reads what is served.
      ...(u.protocol === 'https:' ? (o.ca ? { ca: o.ca } : { rejectUnauthorized: false }) : {}),
      agent: false,
    }, (res) => {
      const peer = u.protocol === 'https:' ? (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate() : undefined;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, certificate: peer }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ns = unique('metrics-auth');
const tokens: Record<string, string> = {};
const binding = unique('metrics-scraper');

beforeAll(async () => {
  await createNamespace(ns);
  for (const sa of ['scraper', 'stranger']) {
    await kubectl('create', 'serviceaccount', sa, '-n', ns);
    tokens[sa] = (await kubectl('create', 'token', sa, '-n', ns, '--duration=1h')).trim();
  }
  // Only the scraper is bound to the role config/rbac ships for scrapers.
  await kubectl('create', 'clusterrolebinding', binding, '--clusterrole=tenant-isolation-operator-metrics-reader', `--serviceaccount=${ns}:scraper`);
});
afterAll(async () => { await kubectl('delete', 'clusterrolebinding', binding, '--ignore-not-found'); await kubectl('delete', 'namespace', ns, '--wait=false'); });

describe('secure metrics (the default)', () => {
  let op: RunningOperator;
  let url: string;
  beforeAll(async () => {
    op = await startTestOperator({ 'metrics-bind-address': '127.0.0.1:0' });
    url = `https://127.0.0.1:${op.metricsPort}/metrics`;
  });
  afterAll(async () => { await op.stop(); });

  it('refuses a request without a token, or with a token the apiserver does not know, with 401', async () => {
    expect(await get(url)).toMatchObject({ status: 401, body: 'Unauthorized\n' });
    expect(await get(url, { token: 'not-a-token' })).toMatchObject({ status: 401, body: 'Unauthorized\n' });
  });

  it('refuses an authenticated ServiceAccount without the metrics-reader role with 403, naming it', async () => {
    const r = await get(url, { token: tokens.stranger });
    expect(r.status).toBe(403);
    expect(r.body).toBe(`Authorization denied for user system:serviceaccount:${ns}:stranger\n`);
    expect(r.body).not.toContain('controller_runtime');
  });

  it('serves the metrics to a ServiceAccount bound to the metrics-reader role, over TLS with a self-signed certificate', async () => {
    const r = await get(url, { token: tokens.scraper });
    expect(r.status).toBe(200);
    expect(r.body).toContain('controller_runtime_max_concurrent_reconciles{controller="tenantisolation"}');
    expect(r.certificate?.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(r.certificate?.verify(r.certificate.publicKey)).toBe(true);
    // The role grants GET on /metrics only: another verb or path is refused before anything is served.
    expect((await get(url, { token: tokens.scraper, method: 'POST' })).status).toBe(403);
    expect((await get(url.replace('/metrics', '/debug'), { token: tokens.scraper })).status).toBe(403);
    expect((await get(url.replace('/metrics', '/debug'))).status).toBe(401);
  });

  it('refuses plain HTTP on the same port', async () => {
    await expect(get(url.replace('https:', 'http:'), { token: tokens.scraper })).rejects.toThrow(/socket hang up|ECONNRESET/);
  });
});

describe('metrics with a mounted certificate (--metrics-cert-path)', () => {
  it('serves the files\' certificate, verifiable by its CA, and picks up a rotated one without a restart', async () => {
    const dir = tmp.make('tio-metrics-cert-');
    const first = selfSignedCertificate(['127.0.0.1']);
    writeFileSync(join(dir, 'tls.crt'), first.cert);
    writeFileSync(join(dir, 'tls.key'), first.key);
    const op = await startTestOperator({ 'metrics-bind-address': '127.0.0.1:0', 'metrics-cert-path': dir });
    try {
      const url = `https://127.0.0.1:${op.metricsPort}/metrics`;
      const r = await get(url, { token: tokens.scraper, ca: first.cert });
      expect(r.status).toBe(200);
      expect(r.certificate?.fingerprint256).toBe(new X509Certificate(first.cert).fingerprint256);
      // Rotate as a Secret volume does: new files appear at once (rename), key first.
      const second = selfSignedCertificate(['127.0.0.1']);
      writeFileSync(join(dir, '.tls.key.new'), second.key);
      writeFileSync(join(dir, '.tls.crt.new'), second.cert);
      renameSync(join(dir, '.tls.key.new'), join(dir, 'tls.key'));
      renameSync(join(dir, '.tls.crt.new'), join(dir, 'tls.crt'));
      await eventually(async () => (await get(url, { token: tokens.scraper, ca: second.cert }).catch(() => undefined))?.status === 200, 'the rotated certificate to be served', 15_000);
      // The old CA no longer verifies the server.
      await expect(get(url, { token: tokens.scraper, ca: first.cert })).rejects.toThrow();
    } finally { await op.stop(); }
  });
});

describe('--metrics-secure=false (development)', () => {
  it('serves plain HTTP to anyone', async () => {
    const op = await startTestOperator({ 'metrics-secure': false, 'metrics-bind-address': '127.0.0.1:0' });
    try {
      const r = await get(`http://127.0.0.1:${op.metricsPort}/metrics`);
      expect(r.status).toBe(200);
      expect(r.body).toContain('controller_runtime_reconcile_total');
    } finally { await op.stop(); }
  });
});
