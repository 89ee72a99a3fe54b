// A self-signed serving certificate made in memory, for the metrics listener when no certificate is
// mounted (what controller-runtime's metrics server does). Node can create keys and parse certificates
// but not issue them, so this writes the few DER structures of an X.509 v3 certificate itself; Node's
// own X509Certificate parses and verifies the result in the tests.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isIP } from 'node:net';

const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
};
const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const oid = (dotted: string): Buffer => {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const groups: number[] = [];
    let v = arc;
    do { groups.unshift(v & 0x7f); v = Math.floor(v / 128); } while (v > 0);
    bytes.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)));
  }
  return tlv(0x06, Buffer.from(bytes));
};
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
/** UTCTime up to 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
const time = (d: Date): Buffer => {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`));
};
const name = (cn: string): Buffer => seq(tlv(0x31, seq(oid('2.5.4.3'), utf8(cn))));
const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));
const ipBytes = (ip: string): Buffer => {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  const [head = '', tail = ''] = ip.split('::');
  const part = (s: string): number[] => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const h = part(head); const t = part(ip.includes('::') ? tail : '');
  const words = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return Buffer.from(words.flatMap((w) => [w >> 8, w & 0xff]));
};

export interface SelfSigned { key: string; cert: string }

/**
 * An ECDSA P-256 key and a certificate for `hosts` (DNS names and IP addresses), valid from an hour ago
 * (clock skew) for `days`, for server authentication only, not a CA.
 */
/**
 * Random bytes as a serial number: a positive INTEGER in DER's minimal form. Top bit clear (positive), and
 * never a first byte of 0, which before a byte below 0x80 is padding OpenSSL refuses ("illegal padding":
 * 1 random serial in ~500).
 */
export function certificateSerial(random: Buffer): Buffer {
  const serial = Buffer.from(random);
  serial[0] = (serial[0]! & 0x7f) || 0x01;
  return serial;
}

export function selfSignedCertificate(hosts: readonly string[], days = 365, now = new Date()): SelfSigned {
  if (hosts.length === 0) throw new Error('a certificate needs at least one host name');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const serial = certificateSerial(randomBytes(16));
  const sans = hosts.map((h) => (isIP(h) ? tlv(0x87, ipBytes(h)) : tlv(0x82, Buffer.from(h, 'ascii'))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // v3
    tlv(0x02, serial),
    ecdsaWithSha256,
    name(hosts[0]!),
    seq(time(new Date(now.getTime() - 3600_000)), time(new Date(now.getTime() + days * 86_400_000))),
    name(hosts[0]!),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
      extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
      extension('2.5.29.17', false, seq(...sans)), // subjectAltName
    )),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.from([0]), signature));
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: pem };
}
