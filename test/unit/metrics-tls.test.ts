// The metrics listener's TLS and flags: a self-signed certificate Node itself accepts, and flags that
// default to kubebuilder's secure settings and refuse contradictions by name.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { certificateSerial, selfSignedCertificate } from '../../src/metrics/self-signed.ts';
import { ServingCertificate } from '../../src/metrics/certificate.ts';
import type { DelegatedAccess } from '../../src/metrics/auth.ts';
import { listen, metricsServer } from '../../src/metrics/server.ts';
import { parseRunFlags } from '../../src/cli/flags.ts';
import { tempDirs } from '../harness/tmp.ts';

const tmp = tempDirs();

describe('selfSignedCertificate', () => {
  it('is a valid self-signed X.509 server certificate for the given names and addresses', () => {
    const now = new Date('2030-01-02T03:04:05Z');
    const { key, cert } = selfSignedCertificate(['metrics.example', 'localhost', '127.0.0.1', '::1'], 365, now);
    const x = new X509Certificate(cert);
    expect(x.verify(x.publicKey)).toBe(true); // signed by its own key
    expect(x.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x.subject).toBe('CN=metrics.example');
    expect(x.subjectAltName).toBe('DNS:metrics.example, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // serverAuth
    expect(x.checkHost('localhost')).toBe('localhost');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkHost('evil.example')).toBeUndefined();
    expect(new Date(x.validFrom).getTime()).toBe(now.getTime() - 3600_000);
    expect(new Date(x.validTo).getTime()).toBe(now.getTime() + 365 * 86_400_000);
  });

  it('makes a serial number DER-minimal and positive whatever the random bytes', () => {
    expect([...certificateSerial(Buffer.from([0x00, 0x12, 0x34]))]).toEqual([0x01, 0x12, 0x34]); // no padding zero
    expect([...certificateSerial(Buffer.from([0x80, 0x12]))]).toEqual([0x01, 0x12]);
    expect([...certificateSerial(Buffer.from([0xff, 0x00]))]).toEqual([0x7f, 0x00]); // top bit cleared
    expect([...certificateSerial(Buffer.from([0x35, 0x00]))]).toEqual([0x35, 0x00]);
  });

  it('writes GeneralizedTime after 2049 and gives each certificate its own key and serial', () => {
    const a = new X509Certificate(selfSignedCertificate(['x'], 30, new Date('2049-12-20T00:00:00Z')).cert);
    expect(new Date(a.validTo).toISOString()).toBe('2050-01-19T00:00:00.000Z');
    const b = new X509Certificate(selfSignedCertificate(['x']).cert);
    const c = new X509Certificate(selfSignedCertificate(['x']).cert);
    expect(b.serialNumber).not.toBe(c.serialNumber);
    expect(b.fingerprint256).not.toBe(c.fingerprint256);
    expect(() => selfSignedCertificate([])).toThrow('at least one host name');
  });
});

describe('ServingCertificate.fromDir', () => {
  it('names the missing file and the key that does not match', () => {
    const dir = tmp.make('tio-cert-');
    expect(() => ServingCertificate.fromDir(dir, 'tls.crt', 'tls.key')).toThrow(`--metrics-cert-path: cannot read ${join(dir, 'tls.crt')}: ENOENT`);
    writeFileSync(join(dir, 'tls.crt'), selfSignedCertificate(['a']).cert);
    writeFileSync(join(dir, 'tls.key'), selfSignedCertificate(['b']).key);
    expect(() => ServingCertificate.fromDir(dir, 'tls.crt', 'tls.key')).toThrow(`${join(dir, 'tls.key')} is not the private key of ${join(dir, 'tls.crt')}`);
    writeFileSync(join(dir, 'tls.crt'), 'not a certificate');
    expect(() => ServingCertificate.fromDir(dir, 'tls.crt', 'tls.key')).toThrow('is not a PEM certificate');
  });

  it('refuses a pair OpenSSL will not serve, and a rotation to one keeps the last good pair instead of crashing', async () => {
    const dir = tmp.make('tio-cert-');
    const good = selfSignedCertificate(['localhost']);
    writeFileSync(join(dir, 'tls.crt'), good.cert);
    writeFileSync(join(dir, 'tls.key'), good.key);
    const errors: string[] = [];
    const sc = ServingCertificate.fromDir(dir, 'tls.crt', 'tls.key', (e) => errors.push(e.message));
    try {
      // A matching pair with a 1024-bit RSA key: X.509 accepts it, the TLS server refuses it (EE_KEY_TOO_SMALL).
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:1024', '-nodes', '-keyout', join(dir, 'weak.key'), '-out', join(dir, 'weak.crt'), '-days', '1', '-subj', '/CN=weak'], { stdio: 'ignore' });
      expect(() => ServingCertificate.fromDir(dir, 'weak.crt', 'weak.key')).toThrow(`${join(dir, 'weak.crt')} cannot serve TLS`);
      writeFileSync(join(dir, 'tls.key'), readFileSync(join(dir, 'weak.key')));
      writeFileSync(join(dir, 'tls.crt'), readFileSync(join(dir, 'weak.crt')));
      await vi.waitFor(() => { if (!errors.some((m) => m.includes('cannot serve TLS'))) throw new Error('no reload yet'); }, { timeout: 15_000, interval: 50 });
      expect(sc.current).toEqual(good);
    } finally { sc.close(); }
  });
});

describe('the metrics server', () => {
  it('answers a request target the URL parser refuses with 400, before authorization, and keeps serving', async () => {
    let checks = 0;
    const access = { check: () => { checks++; return Promise.resolve({ allowed: false as const, status: 401 as const, message: 'Unauthorized' }); } };
    const server = metricsServer(new Registry(), { certificate: ServingCertificate.selfSigned(), access: access as unknown as DelegatedAccess });
    await listen(server, '127.0.0.1:0');
    const port = (server.address() as AddressInfo).port;
    const send = (target: string): Promise<string> => new Promise((resolve, reject) => {
      const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => { s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`); });
      let out = '';
      s.on('data', (d: Buffer) => { out += d.toString(); });
      s.on('close', () => { resolve(out.split('\r\n')[0]!); });
      s.on('error', reject);
    });
    try {
      expect(await send('//[')).toBe('HTTP/1.1 400 Bad Request');
      expect(checks).toBe(0);
      expect(await send('/metrics')).toBe('HTTP/1.1 401 Unauthorized');
    } finally { server.close(); }
  });
});

describe('run flags for metrics', () => {
  const parse = (...argv: string[]) => parseRunFlags(argv, {});
  it('default to HTTPS on :8443 with a self-signed certificate, as kubebuilder v4', () => {
    expect(parse()).toMatchObject({ 'metrics-secure': true, 'metrics-bind-address': ':8443', 'metrics-cert-name': 'tls.crt', 'metrics-cert-key': 'tls.key' });
    expect(parse()).not.toHaveProperty('metrics-cert-path');
  });
  it('--metrics-secure=false (Go flag syntax) or --no-metrics-secure serve plain HTTP on :8080', () => {
    expect(parse('--metrics-secure=false')).toMatchObject({ 'metrics-secure': false, 'metrics-bind-address': ':8080' });
    expect(parse('--no-metrics-secure')).toMatchObject({ 'metrics-secure': false, 'metrics-bind-address': ':8080' });
    expect(parseRunFlags([], { TIO_METRICS_SECURE: 'false' })).toMatchObject({ 'metrics-secure': false });
    expect(parse('--metrics-secure=true', '--leader-elect=true')).toMatchObject({ 'metrics-secure': true, 'leader-elect': true });
  });
  it('an explicit --metrics-bind-address wins in both modes', () => {
    expect(parse('--metrics-bind-address=:9443')).toMatchObject({ 'metrics-bind-address': ':9443' });
    expect(parse('--metrics-secure=false', '--metrics-bind-address', '0')).toMatchObject({ 'metrics-bind-address': '0' });
  });
  it('refuses a certificate for plain HTTP and a bad address, naming the flag', () => {
    expect(() => parse('--metrics-secure=false', '--metrics-cert-path=/certs')).toThrow('--metrics-cert-path: needs --metrics-secure');
    expect(() => parse('--metrics-bind-address=localhost')).toThrow('--metrics-bind-address: must be host:port');
  });
});
