// Port sets: exact arithmetic on inclusive ranges per protocol, and how a rule's `ports` list becomes one.
import { describe, expect, it } from 'vitest';
import { ALL_PORTS, NO_PORTS, formatPortSet, has, intersect, isEmpty, range, rulePorts, subtract, union } from '../../../src/analysis/ports.ts';

describe('port set arithmetic', () => {
  it('unions merge overlapping and adjacent ranges', () => {
    expect(union(range('TCP', 1, 10), range('TCP', 11, 20))[0]).toEqual([1, 20]);
    expect(union(range('TCP', 5, 10), range('TCP', 1, 7))[0]).toEqual([1, 10]);
    expect(union(range('TCP', 1, 2), range('TCP', 4, 5))[0]).toEqual([1, 2, 4, 5]);
    expect(union(range('TCP', 1, 2), range('UDP', 1, 2))).toEqual([[1, 2], [1, 2], []]);
  });

  it('intersects and subtracts per protocol', () => {
    expect(intersect(range('TCP', 1, 100), range('TCP', 50, 200))[0]).toEqual([50, 100]);
    expect(isEmpty(intersect(range('TCP', 1, 100), range('UDP', 1, 100)))).toBe(true);
    expect(subtract(ALL_PORTS, range('UDP', 53, 53))).toEqual([[1, 65535], [1, 52, 54, 65535], [1, 65535]]);
    expect(subtract(range('TCP', 10, 20), range('TCP', 1, 65535))).toEqual(NO_PORTS);
  });

  it('clamps to 1..65535 and treats a reversed range as empty', () => {
    expect(range('TCP', 0, 70000)[0]).toEqual([1, 65535]);
    expect(isEmpty(range('TCP', 10, 9))).toBe(true);
    expect(isEmpty(range('ICMP', 1, 2))).toBe(true);
  });

  it('answers membership and formats readably', () => {
    const s = union(range('TCP', 80, 80), range('UDP', 1, 65535));
    expect(has(s, 'TCP', 80)).toBe(true);
    expect(has(s, 'TCP', 81)).toBe(false);
    expect(has(s, 'UDP', 9)).toBe(true);
    expect(has(s, 'SCTP', 80)).toBe(false);
    expect(formatPortSet(union(s, range('SCTP', 5, 9)))).toBe('TCP/80, UDP/any, SCTP/5-9');
    expect(formatPortSet(NO_PORTS)).toBe('no port');
  });
});

describe('rulePorts', () => {
  const dst = [{ name: 'http', containerPort: 8080 }, { name: 'dns', containerPort: 53, protocol: 'UDP' as const }];
  it('absent or empty = every port of every protocol', () => {
    expect(rulePorts(undefined, dst)).toEqual(ALL_PORTS);
    expect(rulePorts([], dst)).toEqual(ALL_PORTS);
  });
  it('defaults the protocol to TCP and the port to all', () => {
    expect(rulePorts([{ port: 443 } as never], dst)).toEqual(range('TCP', 443, 443));
    expect(rulePorts([{ protocol: 'SCTP' }], dst)).toEqual(range('SCTP', 1, 65535));
  });
  it('makes endPort an inclusive range and a reversed one empty', () => {
    expect(rulePorts([{ protocol: 'TCP', port: 1000, endPort: 2000 }], dst)).toEqual(range('TCP', 1000, 2000));
    expect(isEmpty(rulePorts([{ protocol: 'TCP', port: 2000, endPort: 1000 }], dst))).toBe(true);
  });
  it('resolves names on the destination with the same protocol; unknown names and no destination admit nothing', () => {
    expect(rulePorts([{ protocol: 'TCP', port: 'http' }], dst)).toEqual(range('TCP', 8080, 8080));
    expect(rulePorts([{ protocol: 'UDP', port: 'dns' }], dst)).toEqual(range('UDP', 53, 53));
    expect(isEmpty(rulePorts([{ protocol: 'TCP', port: 'dns' }], dst))).toBe(true);
    expect(isEmpty(rulePorts([{ protocol: 'TCP', port: 'nope' }], dst))).toBe(true);
    expect(isEmpty(rulePorts([{ protocol: 'TCP', port: 'http' }], undefined))).toBe(true);
  });
});
