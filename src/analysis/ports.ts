// Port sets as sorted, disjoint, inclusive ranges per protocol, so the analyzer can reason about "every
// port" symbolically instead of probing: a rule's ports become a set, sides intersect, declared paths
// subtract. Ports are 1..65535.
import type { NetworkPort } from '../api/schema.ts';
import { PROTOCOLS, type ContainerPort, type Protocol } from './types.ts';

export const MIN_PORT = 1;
export const MAX_PORT = 65535;

/** Flat [lo0, hi0, lo1, hi1, ...], sorted and disjoint (adjacent ranges merged). */
export type Ranges = readonly number[];
/** Indexed like PROTOCOLS: TCP, UDP, SCTP. */
export type PortSet = readonly [Ranges, Ranges, Ranges];

const FULL: Ranges = [MIN_PORT, MAX_PORT];
export const ALL_PORTS: PortSet = [FULL, FULL, FULL];
export const NO_PORTS: PortSet = [[], [], []];

export const protocolIndex = (p: string): number => PROTOCOLS.indexOf(p as Protocol);

function unionRanges(a: Ranges, b: Ranges): Ranges {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  const pairs: [number, number][] = [];
  for (let i = 0; i < a.length; i += 2) pairs.push([a[i]!, a[i + 1]!]);
  for (let i = 0; i < b.length; i += 2) pairs.push([b[i]!, b[i + 1]!]);
  pairs.sort((x, y) => x[0] - y[0]);
  const out: number[] = [];
  for (const [lo, hi] of pairs) {
    const last = out.length - 1;
    if (last > 0 && lo <= out[last]! + 1) out[last] = Math.max(out[last]!, hi);
    else out.push(lo, hi);
  }
  return out;
}

function intersectRanges(a: Ranges, b: Ranges): Ranges {
  if (a.length === 0 || b.length === 0) return [];
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = Math.max(a[i]!, b[j]!);
    const hi = Math.min(a[i + 1]!, b[j + 1]!);
    if (lo <= hi) out.push(lo, hi);
    if (a[i + 1]! < b[j + 1]!) i += 2; else j += 2;
  }
  return out;
}

function complementRanges(a: Ranges): Ranges {
  const out: number[] = [];
  let next = MIN_PORT;
  for (let i = 0; i < a.length; i += 2) {
    if (a[i]! > next) out.push(next, a[i]! - 1);
    next = a[i + 1]! + 1;
  }
  if (next <= MAX_PORT) out.push(next, MAX_PORT);
  return out;
}

export const isEmpty = (a: PortSet): boolean => a === NO_PORTS || (a[0].length === 0 && a[1].length === 0 && a[2].length === 0);
const isAll = (a: PortSet): boolean => a === ALL_PORTS || (a[0] === FULL && a[1] === FULL && a[2] === FULL);

// The identity cases return the shared constants: the analyzer's hot loops mostly see them.
export function union(a: PortSet, b: PortSet): PortSet {
  if (isAll(a) || isAll(b)) return ALL_PORTS;
  if (isEmpty(a)) return b;
  if (isEmpty(b)) return a;
  return [unionRanges(a[0], b[0]), unionRanges(a[1], b[1]), unionRanges(a[2], b[2])];
}
export function intersect(a: PortSet, b: PortSet): PortSet {
  if (isEmpty(a) || isEmpty(b)) return NO_PORTS;
  if (isAll(a)) return b;
  if (isAll(b)) return a;
  return [intersectRanges(a[0], b[0]), intersectRanges(a[1], b[1]), intersectRanges(a[2], b[2])];
}
export function subtract(a: PortSet, b: PortSet): PortSet {
  if (isEmpty(a) || isAll(b)) return NO_PORTS;
  if (isEmpty(b)) return a;
  return [
    b[0].length ? intersectRanges(a[0], complementRanges(b[0])) : a[0],
    b[1].length ? intersectRanges(a[1], complementRanges(b[1])) : a[1],
    b[2].length ? intersectRanges(a[2], complementRanges(b[2])) : a[2],
  ];
}

export function has(a: PortSet, protocol: Protocol, port: number): boolean {
  const r = a[protocolIndex(protocol)];
  if (!r) return false;
  for (let i = 0; i < r.length; i += 2) if (port >= r[i]! && port <= r[i + 1]!) return true;
  return false;
}

/** A set holding one protocol's ports lo..hi (empty when hi < lo or the protocol is unknown). */
export function range(protocol: string, lo: number, hi: number): PortSet {
  const idx = protocolIndex(protocol);
  const a = Math.max(lo, MIN_PORT);
  const b = Math.min(hi, MAX_PORT);
  if (idx < 0 || b < a) return NO_PORTS;
  const out: [Ranges, Ranges, Ranges] = [[], [], []];
  out[idx] = [a, b];
  return out;
}

/** Each (protocol, lo, hi) of a set, TCP first. */
export function* ranges(a: PortSet): Generator<{ protocol: Protocol; lo: number; hi: number }> {
  for (let p = 0; p < PROTOCOLS.length; p++) {
    const r = a[p]!;
    for (let i = 0; i < r.length; i += 2) yield { protocol: PROTOCOLS[p]!, lo: r[i]!, hi: r[i + 1]! };
  }
}

export function formatPortSet(a: PortSet): string {
  const parts = [...ranges(a)].map(({ protocol, lo, hi }) => (lo === MIN_PORT && hi === MAX_PORT ? `${protocol}/any` : lo === hi ? `${protocol}/${lo}` : `${protocol}/${lo}-${hi}`));
  return parts.length ? parts.join(', ') : 'no port';
}

/**
 * The ports one rule's `ports` list admits towards a destination. Absent or empty = every port of every
 * protocol. An entry's protocol defaults to TCP; no `port` = every port of that protocol; a number with
 * `endPort` = the inclusive range (endPort < port admits nothing; endPort next to a named port is
 * ignored); a name is looked up in the DESTINATION's container ports with the same protocol (an external
 * destination, or a name no container declares, admits nothing).
 */
export function rulePorts(ports: readonly NetworkPort[] | undefined | null, destination: readonly ContainerPort[] | undefined): PortSet {
  if (!ports || ports.length === 0) return ALL_PORTS;
  let out: PortSet = NO_PORTS;
  for (const p of ports) {
    const protocol = (p.protocol as string | null | undefined) ?? 'TCP';
    const port = p.port as number | string | null | undefined;
    if (port === undefined || port === null) out = union(out, range(protocol, MIN_PORT, MAX_PORT));
    else if (typeof port === 'number') out = union(out, range(protocol, port, (p.endPort as number | null | undefined) ?? port));
    else {
      for (const cp of destination ?? []) {
        if (cp.name === port && (cp.protocol ?? 'TCP') === protocol) out = union(out, range(protocol, cp.containerPort, cp.containerPort));
      }
    }
  }
  return out;
}
