import { describe, expect, it } from 'vitest';
import { cidrContains, ipInCidr, isValidCidr, parseCidr, parseIp } from '../../src/net/cidr.ts';

describe('parseIp', () => {
  it('reads an IPv4 dotted quad as a 32-bit number', () => {
    expect(parseIp('10.1.2.3')).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp('0.0.0.0')).toEqual({ family: 4, value: 0n });
    expect(parseIp('255.255.255.255')).toEqual({ family: 4, value: 0xffffffffn });
  });

  it('reads IPv6 with and without :: compression', () => {
    expect(parseIp('::')).toEqual({ family: 6, value: 0n });
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('1::')).toEqual({ family: 6, value: 1n << 112n });
    expect(parseIp('2001:db8::1')).toEqual({ family: 6, value: (0x20010db8n << 96n) | 1n });
    expect(parseIp('1:2:3:4:5:6:7:8')).toEqual({ family: 6, value: 0x00010002000300040005000600070008n });
  });

  it('reads hex groups case-insensitively', () => {
    expect(parseIp('2001:DB8::ABCD')).toEqual(parseIp('2001:db8::abcd'));
  });

  it('reads an embedded IPv4 suffix as the last two groups (::ffff:1.2.3.4 is an IPv6 address)', () => {
    expect(parseIp('::ffff:1.2.3.4')).toEqual({ family: 6, value: 0xffff01020304n });
    expect(parseIp('1:2:3:4:5:6:1.2.3.4')).toEqual({ family: 6, value: 0x00010002000300040005000601020304n });
  });

  it('rejects what is not an address', () => {
    for (const bad of ['', '256.0.0.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', ' 1.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', 'g::1', 'localhost', '10.0.0.0/8']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });
});

describe('parseCidr', () => {
  it('parses IPv4 and IPv6 CIDRs with the prefix inside the address length', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ family: 4, base: 0x0a000000n, prefix: 8 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ family: 4, base: 0n, prefix: 0 });
    expect(parseCidr('10.1.2.3/32')).toEqual({ family: 4, base: 0x0a010203n, prefix: 32 });
    expect(parseCidr('::/0')).toEqual({ family: 6, base: 0n, prefix: 0 });
    expect(parseCidr('fd00::/8')).toEqual({ family: 6, base: 0xfdn << 120n, prefix: 8 });
    expect(parseCidr('::1/128')).toEqual({ family: 6, base: 1n, prefix: 128 });
    expect(parseCidr('::ffff:1.2.3.4/128')).toEqual({ family: 6, base: 0xffff01020304n, prefix: 128 });
  });

  it('masks host bits of a non-canonical CIDR to the network address, like net.ParseCIDR', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ family: 4, base: 0x0a000000n, prefix: 8 });
    expect(parseCidr('2001:db8::1/32')).toEqual({ family: 6, base: 0x20010db8n << 96n, prefix: 32 });
  });

  it('rejects a prefix beyond the address length (/33 for IPv4, /129 for IPv6)', () => {
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('::/129')).toBeUndefined();
    // IPv6 lengths are not valid for IPv4 even though they fit in three digits.
    expect(parseCidr('10.0.0.0/64')).toBeUndefined();
  });

  it('rejects a missing, empty, signed, spaced or non-numeric prefix', () => {
    for (const bad of ['10.0.0.0', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/+8', '10.0.0.0/ 8', '10.0.0.0 /8', '10.0.0.0/8 ', '10.0.0.0/8/8', '10.0.0.0/x', '10.0.0.0/1000', '/8']) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });

  it('rejects a bad address part, including leading-zero octets that some software reads as octal', () => {
    for (const bad of ['300.0.0.0/8', '10.0.0/8', '010.0.0.0/8', 'fd00:::/8', 'host/8']) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
  });

  it('rejects an IPv6 zone index, which net.ParseCIDR and the NetworkPolicy validation never accept', () => {
    // Node's isIPv6 accepts "fe80::1%eth0"; a CIDR with a zone is not a valid ipBlock.
    expect(parseCidr('fe80::1%eth0/64')).toBeUndefined();
    expect(isValidCidr('fe80::%1/64')).toBe(false);
  });
});

describe('isValidCidr', () => {
  it('accepts valid CIDRs of both families and rejects everything else', () => {
    expect(isValidCidr('192.168.0.0/16')).toBe(true);
    expect(isValidCidr('2001:db8::/32')).toBe(true);
    expect(isValidCidr('192.168.0.1')).toBe(false);
    expect(isValidCidr('192.168.0.0/33')).toBe(false);
    expect(isValidCidr('2001:db8::/129')).toBe(false);
    expect(isValidCidr('')).toBe(false);
  });
});

describe('cidrContains', () => {
  it('holds for a narrower or equal range inside the outer one', () => {
    expect(cidrContains('10.0.0.0/8', '10.1.0.0/16')).toBe(true);
    expect(cidrContains('10.0.0.0/8', '10.255.255.255/32')).toBe(true);
    expect(cidrContains('10.0.0.0/8', '10.0.0.0/8')).toBe(true);
    expect(cidrContains('0.0.0.0/0', '192.168.1.0/24')).toBe(true);
    expect(cidrContains('fd00::/8', 'fd12:3456::/32')).toBe(true);
    expect(cidrContains('::/0', '2001:db8::/32')).toBe(true);
  });

  it('compares masked networks, so a non-canonical inner CIDR counts by its network', () => {
    expect(cidrContains('10.0.0.0/24', '10.0.0.77/30')).toBe(true);
    expect(cidrContains('10.0.0.0/24', '10.0.1.77/30')).toBe(false);
  });

  it('fails for a wider range, a disjoint range, or a neighbour that shares a prefix of the text', () => {
    expect(cidrContains('10.1.0.0/16', '10.0.0.0/8')).toBe(false);
    expect(cidrContains('10.0.0.0/8', '11.0.0.0/16')).toBe(false);
    expect(cidrContains('192.168.1.0/24', '192.168.10.0/24')).toBe(false);
    expect(cidrContains('fd00::/8', 'fe00::/16')).toBe(false);
  });

  it('fails across families, even for the all-addresses ranges', () => {
    expect(cidrContains('0.0.0.0/0', '::/0')).toBe(false);
    expect(cidrContains('::/0', '0.0.0.0/0')).toBe(false);
    expect(cidrContains('::/0', '10.0.0.0/8')).toBe(false);
  });

  it('fails when either side is not a CIDR', () => {
    expect(cidrContains('10.0.0.0/8', '10.0.0.1')).toBe(false);
    expect(cidrContains('10.0.0.0', '10.0.0.0/16')).toBe(false);
    expect(cidrContains('10.0.0.0/33', '10.0.0.0/34')).toBe(false);
  });
});

describe('ipInCidr', () => {
  it('holds for addresses inside the range, its first and last address included', () => {
    expect(ipInCidr('10.0.0.0', '10.0.0.0/8')).toBe(true);
    expect(ipInCidr('10.255.255.255', '10.0.0.0/8')).toBe(true);
    expect(ipInCidr('1.2.3.4', '0.0.0.0/0')).toBe(true);
    expect(ipInCidr('2001:db8::1', '2001:db8::/32')).toBe(true);
    expect(ipInCidr('::', '::/0')).toBe(true);
  });

  it('fails just outside the range, across families and for invalid input', () => {
    expect(ipInCidr('11.0.0.0', '10.0.0.0/8')).toBe(false);
    expect(ipInCidr('9.255.255.255', '10.0.0.0/8')).toBe(false);
    expect(ipInCidr('2001:db9::1', '2001:db8::/32')).toBe(false);
    expect(ipInCidr('::1', '0.0.0.0/0')).toBe(false);
    expect(ipInCidr('10.0.0.1', '::/0')).toBe(false);
    expect(ipInCidr('not-an-ip', '0.0.0.0/0')).toBe(false);
    expect(ipInCidr('10.0.0.1', '10.0.0.0/33')).toBe(false);
  });
});
