// IPv4/IPv6 address and CIDR arithmetic on bigints, with the strictness the apiserver applies to
// NetworkPolicy ipBlocks (net.ParseCIDR: canonical dotted quads, prefix within the address length).
import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedCidr { family: 4 | 6; base: bigint; prefix: number }

export function parseIp(ip: string): { family: 4 | 6; value: bigint } | undefined {
  if (isIPv4(ip)) {
    const parts = ip.split('.').map(Number);
    return { family: 4, value: parts.reduce((acc, p) => (acc << 8n) | BigInt(p), 0n) };
  }
  if (isIPv6(ip) && !ip.includes('%')) { // no zone index, as net.ParseIP
    const [head, tail] = ip.includes('::') ? ip.split('::') as [string, string] : [ip, undefined];
    const expand = (s: string): string[] => (s === '' ? [] : s.split(':'));
    let groups = expand(head);
    let tailGroups = tail === undefined ? [] : expand(tail);
    // An embedded IPv4 suffix (::ffff:1.2.3.4) counts as two groups.
    const fixV4 = (g: string[]): string[] => {
      const last = g[g.length - 1];
      if (last && last.includes('.')) {
        const v = parseIp(last)!.value;
        return [...g.slice(0, -1), (v >> 16n).toString(16), (v & 0xffffn).toString(16)];
      }
      return g;
    };
    if (tail === undefined) groups = fixV4(groups); else tailGroups = fixV4(tailGroups);
    const missing = 8 - groups.length - tailGroups.length;
    const all = tail === undefined ? groups : [...groups, ...Array<string>(missing).fill('0'), ...tailGroups];
    return { family: 6, value: all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n) };
  }
  return undefined;
}

export function parseCidr(cidr: string): ParsedCidr | undefined {
  const slash = cidr.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIp(cidr.slice(0, slash));
  const prefixText = cidr.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const bits = ip.family === 4 ? 32 : 128;
  if (prefix > bits) return undefined;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { family: ip.family, base: ip.value & mask, prefix };
}

export const isValidCidr = (cidr: string): boolean => parseCidr(cidr) !== undefined;

function inRange(outer: ParsedCidr, family: 4 | 6, value: bigint): boolean {
  if (outer.family !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const shift = BigInt(bits - outer.prefix);
  return (value >> shift) === (outer.base >> shift);
}

/** True when `inner` lies entirely inside `outer` (same family, longer or equal prefix). */
export function cidrContains(outer: string, inner: string): boolean {
  const o = parseCidr(outer);
  const i = parseCidr(inner);
  if (!o || !i || i.prefix < o.prefix) return false;
  return inRange(o, i.family, i.base);
}

/** True when the address is inside the CIDR. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const a = parseIp(ip);
  const c = parseCidr(cidr);
  return !!a && !!c && inRange(c, a.family, a.value);
}

/** The first address after the CIDR (its range is [base, end)). */
export const cidrEnd = (c: ParsedCidr): bigint => c.base + (1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix));

/** Where address-space regions start at this CIDR: its base, and the address right after it (unless past the space). */
export function cidrBoundaries(c: ParsedCidr): { family: 4 | 6; value: bigint }[] {
  const end = cidrEnd(c);
  return [{ family: c.family, value: c.base }, ...(end < 1n << BigInt(c.family === 4 ? 32 : 128) ? [{ family: c.family, value: end }] : [])];
}
