// Property checks on random small clusters: the class-based, port-set-based, incremental analyzer must
// agree with the reference `decide` evaluated pod by pod and port by port, and an analyzer kept up to date
// through a stream of changes must agree with one built from scratch.
import { describe, expect, it } from 'vitest';
import type { LabelSelector, ValidTenant } from '../../../src/api/schema.ts';
import { planNamespace, policiesToApply } from '../../../src/policy/desired.ts';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicySpec } from '../../../src/policy/types.ts';
import { ValueInterner } from '../../../src/kube/intern.ts';
import { decide } from '../../../src/analysis/decide.ts';
import { explain } from '../../../src/analysis/explain.ts';
import { has } from '../../../src/analysis/ports.ts';
import { IsolationAnalyzer, type Breach } from '../../../src/analysis/analyzer.ts';
import { PROTOCOLS, type NamespaceInfo, type PodInfo, type PolicyInput, type Protocol, type Snapshot } from '../../../src/analysis/types.ts';
import { tenant } from '../fixtures.ts';
import { ext, np, pod } from './builders.ts';

type Rng = () => number;
function mulberry32(seed: number): Rng {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const chance = (r: Rng, p: number): boolean => r() < p;

const NS = ['t1-a', 't1-b', 't2-a', 't3-a', 'free', 'kube-system'];
const MEMBERSHIP = new Map([['t1', ['t1-a', 't1-b']], ['t2', ['t2-a']], ['t3', ['t3-a']]]);
const NUMS = [53, 80, 443, 8080, 9000];
const PROBES = [1, 52, 53, 54, 79, 80, 81, 443, 3868, 8080, 9000, 9001, 65535];

function selector(r: Rng, key: 'app' | 'env'): LabelSelector {
  const values = key === 'app' ? ['a', 'b'] : ['prod', 'dev'];
  switch (Math.floor(r() * 4)) {
    case 0: return {};
    case 1: return { matchLabels: { [key]: pick(r, values) } };
    default: {
      const operator = pick(r, ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const);
      return { matchExpressions: [{ key, operator, ...(operator === 'In' || operator === 'NotIn' ? { values: [pick(r, values)] } : {}) }] };
    }
  }
}
function peer(r: Rng): NetworkPolicyPeer {
  switch (Math.floor(r() * 6)) {
    case 0: return { podSelector: selector(r, 'app') };
    case 1: return { namespaceSelector: selector(r, 'env') };
    case 2: return { namespaceSelector: selector(r, 'env'), podSelector: selector(r, 'app') };
    case 3: return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': pick(r, NS) } } };
    case 4: return { ipBlock: pick(r, [{ cidr: '10.0.0.0/8' }, { cidr: '10.1.0.0/16', except: ['10.1.0.0/24'] }, { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }, { cidr: '8.8.8.0/24' }]) };
    default: return {};
  }
}
function ports(r: Rng): NonNullable<NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']> | undefined {
  if (chance(r, 0.3)) return undefined;
  const n = Math.floor(r() * 3);
  return Array.from({ length: n }, () => {
    const protocol = chance(r, 0.2) ? undefined : pick(r, PROTOCOLS);
    const kind = Math.floor(r() * 4);
    const base = protocol ? { protocol } : {};
    if (kind === 0) return base as { protocol: Protocol };
    if (kind === 1) return { ...base, port: pick(r, ['http', 'dns', 'sctp', 'nope']) } as { protocol: Protocol; port: string };
    const port = pick(r, NUMS);
    return { ...base, port, ...(kind === 3 ? { endPort: port + pick(r, [0, 1, 28]) } : {}) } as { protocol: Protocol; port: number };
  });
}
function randomPolicy(r: Rng, namespace: string, name: string): NetworkPolicy {
  const rules = () => Array.from({ length: Math.floor(r() * 3) }, () => {
    const peers = chance(r, 0.25) ? undefined : Array.from({ length: 1 + Math.floor(r() * 2) }, () => peer(r));
    const p = ports(r);
    return { ...(peers ? { peers } : {}), ...(p ? { ports: p } : {}) };
  });
  const types = pick(r, [undefined, [], ['Ingress'], ['Egress'], ['Ingress', 'Egress']] as const);
  const ingress = chance(r, 0.8) ? rules().map(({ peers: from, ports: p }) => ({ ...(from ? { from } : {}), ...(p ? { ports: p } : {}) })) : undefined;
  const egress = chance(r, 0.8) ? rules().map(({ peers: to, ports: p }) => ({ ...(to ? { to } : {}), ...(p ? { ports: p } : {}) })) : undefined;
  return np(namespace, name, {
    podSelector: selector(r, 'app'),
    ...(types ? { policyTypes: [...types] } : {}),
    ...(ingress ? { ingress } : {}),
    ...(egress ? { egress } : {}),
  });
}
function randomPod(r: Rng, namespace: string, name: string, i: number): PodInfo {
  const nsIdx = NS.indexOf(namespace);
  const ipCount = pick(r, [0, 1, 1, 1, 2]);
  const ips = Array.from({ length: ipCount }, (_, k) => pick(r, [`10.${nsIdx}.0.${i + 10 * k}`, `10.1.0.${i + 10 * k}`, `8.8.8.${i}`]));
  const containerPorts = [
    ...(chance(r, 0.5) ? [{ name: 'http', containerPort: pick(r, [80, 8080]) }] : []),
    ...(chance(r, 0.3) ? [{ name: 'dns', containerPort: 53, protocol: 'UDP' as const }] : []),
    ...(chance(r, 0.2) ? [{ name: 'sctp', containerPort: 3868, protocol: 'SCTP' as const }] : []),
  ];
  return pod(namespace, name, { app: pick(r, ['a', 'b', 'c']) }, { ips, ports: containerPorts, hostNetwork: chance(r, 0.05) });
}
function randomTenant(r: Rng, name: string): ValidTenant {
  const allowPeer = () => pick(r, [
    { namespaceSelector: { matchLabels: { env: pick(r, ['prod', 'dev']) } } },
    { namespaceSelector: {}, podSelector: { matchLabels: { app: pick(r, ['a', 'b']) } } },
    { podSelector: { matchLabels: { app: 'a' } } },
    { ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } },
    { ipBlock: { cidr: '10.1.0.0/16' } },
  ]);
  const allowPorts = () => pick(r, [[], [{ port: 80 }], [{ protocol: 'UDP', port: 53 }], [{ port: 'http' }], [{ port: 8080, endPort: 9000 }]]);
  return tenant(name, {
    namespaces: MEMBERSHIP.get(name),
    mode: chance(r, 0.2) ? 'Audit' : 'Enforce',
    defaultDeny: { ingress: chance(r, 0.85), egress: chance(r, 0.85) },
    intraTenant: { enabled: chance(r, 0.8) },
    dns: { enabled: chance(r, 0.8), ...(chance(r, 0.3) ? { ipBlocks: [{ cidr: '8.8.8.0/24' }] } : {}) },
    allow: {
      ingressFrom: Array.from({ length: Math.floor(r() * 3) }, () => ({ ...allowPeer(), ports: allowPorts() })),
      egressTo: Array.from({ length: Math.floor(r() * 3) }, () => ({ ...allowPeer(), ports: allowPorts() })),
    },
  });
}
function randomWorld(seed: number): { snapshot: Snapshot; tenants: ValidTenant[]; rng: Rng } {
  const r = mulberry32(seed);
  const namespaces: NamespaceInfo[] = NS.map((name) => ({ name, labels: { env: pick(r, ['prod', 'dev']) } }));
  const tenants = ['t1', 't2', 't3'].map((t) => randomTenant(r, t));
  const pods: PodInfo[] = [];
  for (const n of NS) for (let i = 0; i < 1 + Math.floor(r() * 3); i++) pods.push(randomPod(r, n, `p${i}`, i));
  pods.push(pod('kube-system', 'coredns', { 'k8s-app': 'kube-dns' }, { ips: ['10.5.0.53'], ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }] }));
  const policies: NetworkPolicy[] = [];
  for (const t of tenants) for (const n of MEMBERSHIP.get(t.name)!) policies.push(...policiesToApply(planNamespace(n, [t], (x) => MEMBERSHIP.get(x) ?? [])));
  for (const n of NS) for (let i = 0; i < Math.floor(r() * 3); i++) policies.push(randomPolicy(r, n, `r${i}`));
  // Both semantics of a pod without an IP: anywhere (manifests) on odd seeds, in no ipBlock (a live cluster) on even ones.
  return { snapshot: { namespaces, pods, policies, podsWithoutIpAnywhere: seed % 2 === 1 }, tenants, rng: r };
}

/** What the tenant declares, written as one policy in the local pod's namespace, evaluated by `decide`. */
function declaredSnapshot(s: Snapshot, t: ValidTenant, namespace: string): Snapshot {
  const peerOf = (a: ValidTenant['spec']['allow']['ingressFrom'][number]): NetworkPolicyPeer =>
    (a.ipBlock ? { ipBlock: a.ipBlock } : { ...(a.namespaceSelector ? { namespaceSelector: a.namespaceSelector } : {}), ...(a.podSelector ? { podSelector: a.podSelector } : {}) });
  const { dns, allow } = t.spec;
  const policy = np(namespace, 'declared', {
    policyTypes: ['Ingress', 'Egress'],
    ingress: allow.ingressFrom.map((a) => ({ from: [peerOf(a)], ...(a.ports.length ? { ports: a.ports } : {}) })),
    egress: [
      ...(dns.enabled ? [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': dns.namespace } }, podSelector: dns.podSelector }, ...dns.ipBlocks.map((ipBlock) => ({ ipBlock }))], ports: dns.ports }] : []),
      ...allow.egressTo.map((a) => ({ to: [peerOf(a)], ...(a.ports.length ? { ports: a.ports } : {}) })),
    ],
  });
  // hostNetwork would make the local pod unrestricted here too: the declaration must still be evaluated.
  return { namespaces: s.namespaces, pods: s.pods.map((p) => ({ ...p, hostNetwork: false })), policies: [policy] };
}

/** Breaches as atomic facts at the probe ports: "dir|local|peer|proto|port". */
function engineFacts(s: Snapshot, breaches: Breach[]): Set<string> {
  const out = new Set<string>();
  for (const b of breaches) {
    const peers = b.peer.startsWith('namespace ') ? s.pods.filter((p) => p.namespace === b.peer.slice(10)).map((p) => `${p.namespace}/${p.name}`) : [b.peer];
    for (const local of b.pods) for (const peerName of peers) for (const port of PROBES) if (port >= b.port && port <= (b.endPort ?? b.port)) out.add(`${b.direction}|${local}|${peerName}|${b.protocol}|${port}`);
  }
  return out;
}

/** A declaration covers a peer pod only if it covers it at each of its addresses (any one may carry the traffic). */
function eachAddress<P extends PodInfo | { external: string }>(peer: P, declared: (p: P) => boolean): boolean {
  return 'external' in peer || peer.ips.length <= 1 ? declared(peer) : peer.ips.every((ip) => declared({ ...peer, ips: [ip] }));
}

/**
 * Where a pod without an IP may be: an address in every region the ipBlocks above cut the space into
 * (0/0 less 10/8, 8.8.8/24, 10/8 less 10.1/16, 10.1.0/24, the rest of 10.1/16) and an IPv6 one.
 */
const ANYWHERE = ['0.0.0.1', '8.8.8.1', '10.0.0.1', '10.1.0.1', '10.1.1.1', 'fd00::1'];

/** The peer at each address it may have: a pod without an IP at each of ANYWHERE, when it may be anywhere. */
function placements<P extends PodInfo | { external: string }>(peer: P, anywhere: boolean): P[] {
  return 'external' in peer || peer.ips.length > 0 || !anywhere ? [peer] : ANYWHERE.map((ip) => ({ ...peer, ips: [ip] }));
}

function referenceFacts(s: Snapshot, t: ValidTenant, externals: readonly string[]): Set<string> {
  const members = new Set(MEMBERSHIP.get(t.name));
  const out = new Set<string>();
  const peers = [...s.pods.filter((p) => !members.has(p.namespace)), ...externals.map(ext)];
  const name = (e: PodInfo | { external: string }): string => ('external' in e ? `external ${e.external}` : `${e.namespace}/${e.name}`);
  for (const local of s.pods.filter((p) => members.has(p.namespace))) {
    const decl = declaredSnapshot(s, t, local.namespace);
    const plainLocal = { ...local, hostNetwork: false };
    for (const peer of peers) {
      // A breach where some address the peer may have is allowed and not declared.
      for (const p of placements(peer, s.podsWithoutIpAnywhere === true)) {
        const plainPeer = 'external' in p ? p : { ...p, hostNetwork: false };
        for (const protocol of PROTOCOLS) {
          for (const port of PROBES) {
            if (decide(s, p, local, port, protocol).allowed && !eachAddress(plainPeer, (q) => decide(decl, q, plainLocal, port, protocol).ingress.allowed)) out.add(`ingress|${local.namespace}/${local.name}|${name(p)}|${protocol}|${port}`);
            if (decide(s, local, p, port, protocol).allowed && !eachAddress(plainPeer, (q) => decide(decl, plainLocal, q, port, protocol).egress.allowed)) out.add(`egress|${local.namespace}/${local.name}|${name(p)}|${protocol}|${port}`);
          }
        }
      }
    }
  }
  return out;
}

describe('analyzer vs reference decide on random clusters', () => {
  for (let seed = 1; seed <= 30; seed++) {
    it(`agrees on every pod pair, port and protocol (seed ${seed})`, () => {
      const w = randomWorld(seed);
      const a = IsolationAnalyzer.fromSnapshot(w.snapshot, w.tenants, MEMBERSHIP);
      for (const t of w.tenants) {
        const breaches = a.breaches(t.name);
        const externals = new Set(['8.8.8.8', '203.0.113.9', ...breaches.filter((b) => b.peer.startsWith('external ')).map((b) => b.peer.slice(9))]);
        const got = [...engineFacts(w.snapshot, breaches)].sort();
        const want = [...referenceFacts(w.snapshot, t, [...externals])].sort();
        expect(got, `tenant ${t.name}`).toEqual(want);
      }
    });
  }
});

describe('the verify views vs reference decide on random clusters', () => {
  for (let seed = 1; seed <= 10; seed++) {
    it(`explain gives decide's verdict, isolating policies and first admitting rule; connections hold exactly the allowed ports (seed ${seed})`, () => {
      const w = randomWorld(seed);
      const a = IsolationAnalyzer.fromSnapshot(w.snapshot, w.tenants, MEMBERSHIP);
      const connections = new Map(a.connections().map((c) => [`${c.from}>${c.to}`, c.ports]));
      // Namespace edges (from pod classes) are the pod pairs of allowedPairs counted per namespace pair.
      for (const [port, protocol] of [[80, 'TCP'], [53, 'UDP']] as const) {
        const counted = new Map<string, number>();
        for (const [x, y] of a.allowedPairs(port, protocol)) {
          const [nx, ny] = [x.split('/')[0]!, y.split('/')[0]!];
          if (nx !== ny) counted.set(`${nx}>${ny}`, (counted.get(`${nx}>${ny}`) ?? 0) + 1);
        }
        expect(new Map(a.namespacePairs(port, protocol).map((e) => [`${e.from}>${e.to}`, e.pairs]))).toEqual(counted);
      }
      const endpoints = [...w.snapshot.pods, ext('8.8.8.8'), ext('10.1.0.7')];
      for (const src of endpoints) {
        for (const dst of endpoints) {
          if (src === dst || ('external' in src && 'external' in dst)) continue;
          for (const protocol of PROTOCOLS) {
            for (const port of [53, 80, 8080, 9001]) {
              const d = decide(w.snapshot, src, dst, port, protocol);
              const e = explain(w.snapshot, src, dst, port, protocol);
              const what = `${e.from} -> ${e.to} ${protocol}/${port}`;
              expect(e.allowed, what).toBe(d.allowed);
              for (const side of ['egress', 'ingress'] as const) {
                expect(e[side].allowed, `${what} ${side}`).toBe(d[side].allowed);
                expect(e[side].isolatingPolicies, `${what} ${side}`).toEqual(d[side].isolatingPolicies);
                const first = e[side].rules.find((r) => r.admits);
                expect(first && { policy: first.policy, rule: first.rule }, `${what} ${side}`).toEqual(d[side].allowedBy);
              }
              if (!('external' in src) && !('external' in dst)) {
                const ports = connections.get(`${e.from}>${e.to}`);
                expect(ports !== undefined && has(ports, protocol, port), `${what} in connections()`).toBe(d.allowed);
              }
            }
          }
        }
      }
    });
  }
});

/** Breaches flattened so that grouping of pods into classes does not matter. */
function flat(bm: Map<string, Breach[]>): string[] {
  const out: string[] = [];
  for (const [t, bs] of bm) for (const b of bs) for (const p of b.pods) out.push(`${t}|${b.direction}|${p}|${b.peer}|${b.protocol}|${b.port}-${b.endPort ?? b.port}|${b.policy}`);
  return out.sort();
}

describe('incremental analyzer vs rebuilt analyzer', () => {
  for (let seed = 100; seed < 215; seed++) { // 115 streams of 40 changes: more coverage for the incremental dependency bookkeeping
    it(`stays equal through a stream of changes (seed ${seed})`, () => {
      const w = randomWorld(seed);
      const r = w.rng;
      let tenants = w.tenants;
      let membership: Map<string, string[]> = new Map(MEMBERSHIP);
      const a = IsolationAnalyzer.fromSnapshot(w.snapshot, tenants, membership);
      const perTenant = (bm: Map<string, Breach[]>): Map<string, string> => new Map(tenants.map((t) => [t.name, flat(new Map([[t.name, bm.get(t.name) ?? []]])).join('\n')]));
      let last = perTenant(a.allBreaches());
      a.takeTouched();
      for (let step = 0; step < 40; step++) {
        const s = a.snapshot();
        const n = pick(r, NS);
        switch (Math.floor(r() * 8)) {
          case 0: case 1: a.setPolicy(randomPolicy(r, n, `r${Math.floor(r() * 4)}`)); break;
          case 2: { const p = s.policies.length ? pick(r, s.policies) : undefined; if (p) a.deletePolicy(p.metadata.namespace, p.metadata.name); break; }
          case 3: a.setPod(randomPod(r, n, `p${Math.floor(r() * 4)}`, Math.floor(r() * 4))); break;
          case 4: { const p = s.pods.length ? pick(r, s.pods) : undefined; if (p) a.deletePod(p.namespace, p.name); break; }
          case 5: a.setNamespace({ name: n, labels: { env: pick(r, ['prod', 'dev']) } }); break;
          case 6: {
            const i = Math.floor(r() * tenants.length);
            tenants = tenants.map((t, k) => (k === i ? randomTenant(r, t.name) : t));
            // A namespace leaves or rejoins its tenant too, sometimes (one tenant updated, as the operator does).
            if (chance(r, 0.5)) { const t = tenants[i]!.name; const all = MEMBERSHIP.get(t)!; membership = new Map(membership).set(t, all.filter(() => chance(r, 0.6))); }
            if (chance(r, 0.5)) a.setTenant(tenants[i]!, membership.get(tenants[i]!.name) ?? []); else a.setTenants(tenants, membership);
            break;
          }
          default: {
            if (chance(r, 0.3) || s.pods.length === 0) { a.deleteNamespace(n); break; }
            // A pod gets, changes or loses its addresses, IPv6 ones too (the IPv6 samples follow them).
            const v4 = `10.1.0.${Math.floor(r() * 255)}`;
            const v6 = `fd00::${Math.floor(r() * 255).toString(16)}`;
            a.setPod({ ...pick(r, s.pods), ips: pick(r, [[v4], [v6], [v4, v6], []]) });
          }
        }
        const touched = new Set(a.takeTouched());
        const fresh = IsolationAnalyzer.fromSnapshot(a.snapshot(), tenants, membership);
        const got = a.allBreaches();
        expect(flat(got), `step ${step}`).toEqual(flat(fresh.allBreaches()));
        // The operator re-reads only the tenants reported touched: every tenant whose breaches changed must be.
        const now = perTenant(got);
        for (const [t, b] of now) if (b !== last.get(t)) expect(touched.has(t), `step ${step}: ${t} changed but was not reported`).toBe(true);
        last = now;
        a.takeTouched();
        expect(a.podsSelectedByNoPolicy()).toEqual(fresh.podsSelectedByNoPolicy());
      }
    });
  }

  it('allowedPairs agrees with decide on every ordered pair', () => {
    for (let seed = 200; seed < 210; seed++) {
      const w = randomWorld(seed);
      const a = IsolationAnalyzer.fromSnapshot(w.snapshot, w.tenants, MEMBERSHIP);
      for (const [port, protocol] of [[80, 'TCP'], [53, 'UDP'], [3868, 'SCTP']] as const) {
        const got = a.allowedPairs(port, protocol).map(([x, y]) => `${x}>${y}`).sort();
        const want: string[] = [];
        for (const x of w.snapshot.pods) for (const y of w.snapshot.pods) if (x !== y && decide(w.snapshot, x, y, port, protocol).allowed) want.push(`${x.namespace}/${x.name}>${y.namespace}/${y.name}`);
        expect(got, `seed ${seed} ${protocol}/${port}`).toEqual(want.sort());
      }
    }
  });
});

describe('policies sharing one spec object and pods sharing frozen labels and ports, as the operator cache interns them', () => {
  for (let seed = 300; seed < 330; seed++) {
    it(`give the same breaches as unshared copies (seed ${seed})`, () => {
      const w = randomWorld(seed);
      const specs = new ValueInterner<NetworkPolicySpec>();
      // Every policy is copied into every namespace, all copies holding one frozen spec object: specs with
      // "this namespace" peers must still mean each copy's own namespace.
      const policies = w.snapshot.policies.flatMap((p) => NS.map((n): PolicyInput => ({
        ...p, metadata: { ...p.metadata, namespace: n, name: `${p.metadata.namespace}-${p.metadata.name}` }, spec: specs.intern(structuredClone(p.spec)),
      })));
      expect(specs.size).toBeLessThan(policies.length);
      // Pods too, as the operator caches them: frozen label sets and port lists shared between pods.
      const labelSets = new ValueInterner<Record<string, string>>();
      const portLists = new ValueInterner<PodInfo['containerPorts']>();
      const pods = w.snapshot.pods.map((p) => ({ ...p, labels: labelSets.intern({ ...p.labels }), containerPorts: portLists.intern(structuredClone(p.containerPorts)) }));
      expect(Object.isFrozen(pods[0]?.labels)).toBe(true);
      const shared = { ...w.snapshot, policies, pods };
      const a = IsolationAnalyzer.fromSnapshot(shared, w.tenants, MEMBERSHIP);
      const b = IsolationAnalyzer.fromSnapshot(structuredClone(shared), w.tenants, MEMBERSHIP);
      expect(flat(a.allBreaches())).toEqual(flat(b.allBreaches()));
      expect(a.podsSelectedByNoPolicy()).toEqual(b.podsSelectedByNoPolicy());
    });
  }
});
