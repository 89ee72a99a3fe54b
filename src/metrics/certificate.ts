// The metrics listener's serving certificate: files from --metrics-cert-path (re-read when they change,
// as controller-runtime's certwatcher does, so cert-manager rotations need no restart), or a self-signed
// one made in memory at start.
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import os from 'node:os';
import { createSecureContext } from 'node:tls';
import { selfSignedCertificate } from './self-signed.ts';

export interface KeyPair { key: string; cert: string }

export class ServingCertificate {
  private pair: KeyPair;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private listeners: ((p: KeyPair) => void)[] = [];

  private readonly source: string;
  private constructor(pair: KeyPair, source: string) { this.pair = pair; this.source = source; }

  /** Self-signed for this host's name, localhost and the loopback addresses. */
  static selfSigned(): ServingCertificate {
    return new ServingCertificate(selfSignedCertificate([os.hostname(), 'localhost', '127.0.0.1', '::1']), 'self-signed');
  }

  /** Reads DIR/certName and DIR/keyName; throws naming the file and the flag when they are missing or do not match. */
  static fromDir(dir: string, certName: string, keyName: string, onError: (e: Error) => void = () => undefined): ServingCertificate {
    const read = (): KeyPair => readPair(dir, certName, keyName);
    const sc = new ServingCertificate(read(), join(dir, certName));
    let retry: NodeJS.Timeout | undefined;
    const reload = (again = false): void => {
      let next: KeyPair;
      try { next = read(); } catch (e) {
        // Keep serving the last good pair. A rotation replaces two files one after the other, so a read
        // between them sees a key and a certificate that do not match: read again soon rather than at
        // the next poll, should the second change's event not come (once: a lasting error waits for the poll).
        onError(e as Error);
        if (!again) retry ??= setTimeout(() => { retry = undefined; reload(true); }, 1_000).unref();
        return;
      }
      if (next.cert === sc.pair.cert && next.key === sc.pair.key) return;
      sc.pair = next;
      // A listener's throw (the TLS server refusing the pair) must not end the process from a timer.
      for (const l of sc.listeners) { try { l(next); } catch (e) { onError(e as Error); } }
    };
    // Mounted Secrets change by swapping a symlink in the directory: watch the directory, and poll as a net.
    try { sc.watcher = watch(dir, () => reload()); sc.watcher.unref(); } catch { /* polling only */ }
    sc.timer = setInterval(() => reload(), 10_000);
    sc.timer.unref();
    return sc;
  }

  get current(): KeyPair { return this.pair; }
  get description(): string { return this.source; }
  onChange(listener: (p: KeyPair) => void): void { this.listeners.push(listener); }
  close(): void { this.watcher?.close(); if (this.timer) clearInterval(this.timer); }
}

function readPair(dir: string, certName: string, keyName: string): KeyPair {
  const file = (name: string): string => {
    try { return readFileSync(join(dir, name), 'utf8'); } catch (e) {
      throw new Error(`--metrics-cert-path: cannot read ${join(dir, name)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, { cause: e });
    }
  };
  const pair = { cert: file(certName), key: file(keyName) };
  let x509: X509Certificate;
  try { x509 = new X509Certificate(pair.cert); } catch (e) { throw new Error(`--metrics-cert-path: ${join(dir, certName)} is not a PEM certificate`, { cause: e }); }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(pair.key))) throw new Error('mismatch');
  } catch (e) { throw new Error(`--metrics-cert-path: ${join(dir, keyName)} is not the private key of ${join(dir, certName)}`, { cause: e }); }
  // What OpenSSL itself refuses (a 1024-bit key, say) is refused here, while the last good pair serves on.
  try { createSecureContext({ ...pair, minVersion: 'TLSv1.2' }); } catch (e) { throw new Error(`--metrics-cert-path: ${join(dir, certName)} cannot serve TLS: ${(e as Error).message}`, { cause: e }); }
  return pair;
}
