// NetworkPolicy semantics (networking.k8s.io/v1) as executable specifications of `decide`.
import { describe, expect, it } from 'vitest';
import { decide } from '../../../src/analysis/decide.ts';
import type { Endpoint, Protocol } from '../../../src/analysis/types.ts';
import type { NetworkPolicy } from '../../../src/policy/types.ts';
import { ext, np, ns, pod, snapshot } from './builders.ts';

const namespaces = [ns('shop', { team: 'shop', env: 'prod' }), ns('blog', { team: 'blog', env: 'dev' }), ns('ops', { team: 'ops', env: 'prod' })];
const web = pod('shop', 'web', { app: 'web', tier: 'frontend' }, {
  ips: ['10.1.0.10'],
  ports: [{ name: 'http', containerPort: 8080 }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP' }],
});
const db = pod('shop', 'db', { app: 'db' }, { ips: ['10.1.0.20'], ports: [{ name: 'postgres', containerPort: 5432 }] });
const blogWeb = pod('blog', 'web', { app: 'web' }, { ips: ['10.2.0.10'], ports: [{ name: 'http', containerPort: 80 }] });
const blogMonitor = pod('blog', 'monitor', { app: 'monitor' }, { ips: ['10.2.0.20'] });
const monitor = pod('ops', 'monitor', { app: 'monitor' }, { ips: ['10.3.0.10'] });
const opsTool = pod('ops', 'tool', { app: 'tool' }, { ips: ['10.3.0.20'] });
const hostAgent = pod('ops', 'agent', { app: 'agent' }, { ips: ['192.168.0.5'], hostNetwork: true });
const pods = [web, db, blogWeb, blogMonitor, monitor, opsTool, hostAgent];

function check(policies: NetworkPolicy[], src: Endpoint, dst: Endpoint, port = 8080, protocol: Protocol = 'TCP') {
  return decide(snapshot(namespaces, pods, policies), src, dst, port, protocol);
}
const allowed = (policies: NetworkPolicy[], src: Endpoint, dst: Endpoint, port = 8080, protocol: Protocol = 'TCP'): boolean => check(policies, src, dst, port, protocol).allowed;

const denyIngress = np('shop', 'deny-ingress', { policyTypes: ['Ingress'] });
const denyEgress = np('shop', 'deny-egress', { policyTypes: ['Egress'] });
const ingressFrom = (from: NonNullable<NonNullable<NetworkPolicy['spec']['ingress']>[number]['from']>, name = 'allow'): NetworkPolicy =>
  np('shop', name, { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from }] });

describe('isolation', () => {
  it('without any policy every pod is non-isolated and every connection is allowed', () => {
    const d = check([], blogWeb, web);
    expect(d.allowed).toBe(true);
    expect(d.egress).toMatchObject({ allowed: true, isolated: false, isolatingPolicies: [] });
    expect(d.ingress).toMatchObject({ allowed: true, isolated: false, isolatingPolicies: [] });
    expect(d.ingress.reason).toMatch(/not selected by any policy with Ingress/);
  });

  it('a policy isolates only the pods its podSelector selects', () => {
    const onlyDb = np('shop', 'db-only', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'] });
    expect(allowed([onlyDb], blogWeb, web)).toBe(true);
    expect(allowed([onlyDb], blogWeb, db, 5432)).toBe(false);
  });

  it('a policy only selects pods of its own namespace, even with an empty podSelector', () => {
    const elsewhere = np('blog', 'deny-all', { policyTypes: ['Ingress'] });
    expect(allowed([elsewhere], monitor, web)).toBe(true);
    expect(allowed([elsewhere], monitor, blogWeb, 80)).toBe(false);
  });

  it('default deny ingress: nothing reaches the selected pods, not even from their own namespace or outside', () => {
    expect(allowed([denyIngress], db, web)).toBe(false);
    expect(allowed([denyIngress], blogWeb, web)).toBe(false);
    expect(allowed([denyIngress], ext('8.8.8.8'), web)).toBe(false);
    const d = check([denyIngress], blogWeb, web);
    expect(d.ingress).toMatchObject({ allowed: false, isolated: true, isolatingPolicies: ['shop/deny-ingress'] });
    expect(d.ingress.allowedBy).toBeUndefined();
    expect(d.egress.allowed).toBe(true);
  });

  it('default deny ingress leaves egress of the same pods alone', () => {
    expect(allowed([denyIngress], web, ext('8.8.8.8'), 443)).toBe(true);
    expect(allowed([denyIngress], web, blogWeb, 80)).toBe(true);
  });

  it('allow-all ingress ([{}]) re-opens what a default deny closed: rules of all selecting policies are unioned', () => {
    const allowAll = np('shop', 'allow-all', { policyTypes: ['Ingress'], ingress: [{}] });
    expect(allowed([denyIngress, allowAll], blogWeb, web)).toBe(true);
    expect(allowed([denyIngress, allowAll], ext('203.0.113.9'), web, 1, 'UDP')).toBe(true);
    const d = check([denyIngress, allowAll], blogWeb, web);
    expect(d.ingress.isolatingPolicies).toEqual(['shop/allow-all', 'shop/deny-ingress']);
    expect(d.ingress.allowedBy).toEqual({ policy: 'shop/allow-all', rule: 0 });
  });

  it('default deny egress: selected pods reach nothing, in-cluster or outside; their ingress is untouched', () => {
    expect(allowed([denyEgress], web, db, 5432)).toBe(false);
    expect(allowed([denyEgress], web, ext('8.8.8.8'), 53, 'UDP')).toBe(false);
    expect(check([denyEgress], web, db, 5432).egress).toMatchObject({ isolated: true, isolatingPolicies: ['shop/deny-egress'] });
    expect(allowed([denyEgress], blogWeb, web)).toBe(true);
  });

  it('allow-all egress ([{}]) re-opens egress', () => {
    const allowAll = np('shop', 'allow-all-out', { policyTypes: ['Egress'], egress: [{}] });
    expect(allowed([denyEgress, allowAll], web, ext('8.8.8.8'), 53, 'UDP')).toBe(true);
    expect(allowed([denyEgress, allowAll], web, blogWeb, 80)).toBe(true);
  });

  it('needs both the source egress and the destination ingress to allow', () => {
    const blogDenyOut = np('blog', 'deny-out', { policyTypes: ['Egress'] });
    const shopAllowIn = ingressFrom([{ namespaceSelector: { matchLabels: { team: 'blog' } } }]);
    expect(allowed([denyIngress, shopAllowIn], blogWeb, web)).toBe(true);
    const d = check([denyIngress, shopAllowIn, blogDenyOut], blogWeb, web);
    expect(d).toMatchObject({ allowed: false, egress: { allowed: false }, ingress: { allowed: true } });
    const e = check([denyIngress], blogWeb, web);
    expect(e).toMatchObject({ allowed: false, egress: { allowed: true }, ingress: { allowed: false } });
  });

  it('reports the first admitting rule in policy-name order', () => {
    const a = np('shop', 'a', { policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 1 }] }, { ports: [{ protocol: 'TCP', port: 8080 }] }] });
    const b = np('shop', 'b', { policyTypes: ['Ingress'], ingress: [{}] });
    expect(check([b, a], blogWeb, web).ingress.allowedBy).toEqual({ policy: 'shop/a', rule: 1 });
    expect(check([b, a], blogWeb, web, 9090).ingress.allowedBy).toEqual({ policy: 'shop/b', rule: 0 });
  });
});

describe('policyTypes defaulting', () => {
  it('omitted without egress rules: Ingress only', () => {
    const p = np('shop', 'implicit', { ingress: [{ from: [{ podSelector: {} }] }] });
    expect(allowed([p], blogWeb, web)).toBe(false);
    expect(allowed([p], db, web)).toBe(true);
    expect(allowed([p], web, ext('8.8.8.8'), 443)).toBe(true);
    expect(check([p], web, ext('8.8.8.8')).egress.isolated).toBe(false);
  });

  it('omitted with egress rules: Ingress and Egress, so a policy with only egress rules also denies all ingress', () => {
    const p = np('shop', 'implicit-egress', { podSelector: { matchLabels: { app: 'web' } }, egress: [{ to: [{ podSelector: {} }] }] });
    expect(allowed([p], web, db, 5432)).toBe(true);
    expect(allowed([p], db, web, 8080)).toBe(false); // same namespace, but web's ingress is isolated with no rule
    expect(allowed([p], web, blogWeb, 80)).toBe(false);
    expect(allowed([p], blogWeb, web)).toBe(false);
    expect(check([p], blogWeb, web).ingress.isolated).toBe(true);
  });

  it('an empty policyTypes list is defaulted like an omitted one', () => {
    const p = np('shop', 'empty-types', { policyTypes: [], egress: [{ to: [{ podSelector: {} }] }] });
    expect(check([p], web, blogWeb, 80).egress.isolated).toBe(true);
    expect(check([p], blogWeb, web).ingress.isolated).toBe(true);
  });

  it('explicit Egress only: the pods are not isolated for ingress and ingress rules are ignored', () => {
    const p = np('shop', 'egress-only', { policyTypes: ['Egress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'none' } } }] }] });
    expect(check([p], blogWeb, web).ingress.isolated).toBe(false);
    expect(allowed([p], blogWeb, web)).toBe(true);
    // ...and those ignored ingress rules do not add to another policy's isolation either.
    const q = np('shop', 'egress-only-open', { policyTypes: ['Egress'], ingress: [{}] });
    expect(allowed([denyIngress, q], blogWeb, web)).toBe(false);
  });

  it('explicit Ingress only: egress rules are ignored and egress stays open', () => {
    const p = np('shop', 'ingress-only', { policyTypes: ['Ingress'], ingress: [{}], egress: [{ to: [{ podSelector: {} }] }] });
    expect(check([p], web, blogWeb, 80).egress.isolated).toBe(false);
    expect(allowed([denyEgress, p], web, blogWeb, 80)).toBe(false);
  });
});

describe('rules', () => {
  it('ingress: [] and an absent ingress both allow nothing once isolated', () => {
    expect(allowed([np('shop', 'empty', { policyTypes: ['Ingress'], ingress: [] })], db, web)).toBe(false);
    expect(allowed([np('shop', 'absent', { policyTypes: ['Ingress'] })], db, web)).toBe(false);
  });

  it('egress: [] allows nothing once isolated', () => {
    expect(allowed([np('shop', 'empty', { policyTypes: ['Egress'], egress: [] })], web, db, 5432)).toBe(false);
  });

  it('from absent or empty means any peer, outside the cluster included', () => {
    for (const rule of [{ ports: [{ protocol: 'TCP' as const, port: 8080 }] }, { from: [], ports: [{ protocol: 'TCP' as const, port: 8080 }] }]) {
      const p = np('shop', 'any-peer', { policyTypes: ['Ingress'], ingress: [rule] });
      expect(allowed([p], blogWeb, web)).toBe(true);
      expect(allowed([p], ext('198.51.100.7'), web)).toBe(true);
      expect(allowed([p], blogWeb, web, 8081)).toBe(false);
    }
  });

  it('to absent or empty means any destination, outside the cluster included', () => {
    for (const rule of [{ ports: [{ protocol: 'UDP' as const, port: 53 }] }, { to: [], ports: [{ protocol: 'UDP' as const, port: 53 }] }]) {
      const p = np('shop', 'any-dest', { policyTypes: ['Egress'], egress: [rule] });
      expect(allowed([p], web, ext('8.8.8.8'), 53, 'UDP')).toBe(true);
      expect(allowed([p], web, monitor, 53, 'UDP')).toBe(true);
      expect(allowed([p], web, monitor, 53, 'TCP')).toBe(false);
    }
  });

  it('ports absent or empty means every port of every protocol', () => {
    for (const ports of [undefined, []]) {
      const p = np('shop', 'all-ports', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }], ...(ports ? { ports } : {}) }] });
      for (const [port, proto] of [[1, 'TCP'], [65535, 'TCP'], [53, 'UDP'], [3868, 'SCTP']] as const) expect(allowed([p], blogWeb, web, port, proto)).toBe(true);
    }
  });
});

describe('peers', () => {
  it('podSelector alone selects pods in the policy\'s own namespace only', () => {
    const p = ingressFrom([{ podSelector: { matchLabels: { app: 'db' } } }]);
    expect(allowed([p], db, web)).toBe(true);
    const lookalike = pod('blog', 'db', { app: 'db' }, { ips: ['10.2.0.99'] });
    expect(decide(snapshot(namespaces, [...pods, lookalike], [p]), lookalike, web, 8080).allowed).toBe(false);
  });

  it('an empty podSelector alone selects every pod of the own namespace', () => {
    const p = ingressFrom([{ podSelector: {} }]);
    expect(allowed([p], db, web)).toBe(true);
    expect(allowed([p], blogWeb, web)).toBe(false);
  });

  it('namespaceSelector alone selects every pod of the matching namespaces, and no address outside', () => {
    const p = ingressFrom([{ namespaceSelector: { matchLabels: { env: 'prod' } } }]);
    expect(allowed([p], monitor, web)).toBe(true);
    expect(allowed([p], opsTool, web)).toBe(true);
    expect(allowed([p], db, web)).toBe(true); // shop is prod too
    expect(allowed([p], blogWeb, web)).toBe(false);
    expect(allowed([p], ext('8.8.8.8'), web)).toBe(false);
  });

  it('an empty namespaceSelector selects every pod in the cluster but no address outside', () => {
    const p = ingressFrom([{ namespaceSelector: {} }]);
    expect(allowed([p], blogWeb, web)).toBe(true);
    expect(allowed([p], ext('10.99.0.1'), web)).toBe(false);
  });

  it('namespaceSelector and podSelector in ONE peer: those pods in those namespaces (AND)', () => {
    const p = ingressFrom([{ namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { app: 'monitor' } } }]);
    expect(allowed([p], monitor, web)).toBe(true);
    expect(allowed([p], opsTool, web)).toBe(false); // right namespace, wrong pod
    expect(allowed([p], blogMonitor, web)).toBe(false); // right pod, wrong namespace
  });

  it('the same selectors as TWO peers: pods in those namespaces, or those pods in the own namespace (OR)', () => {
    const p = ingressFrom([{ namespaceSelector: { matchLabels: { team: 'ops' } } }, { podSelector: { matchLabels: { app: 'db' } } }]);
    expect(allowed([p], monitor, web)).toBe(true);
    expect(allowed([p], opsTool, web)).toBe(true);
    expect(allowed([p], db, web)).toBe(true);
    expect(allowed([p], blogMonitor, web)).toBe(false);
  });

  it('the apiserver\'s kubernetes.io/metadata.name label is assumed even when the snapshot omits it', () => {
    const p = ingressFrom([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'blog' } } }]);
    expect(allowed([p], blogWeb, web)).toBe(true);
    expect(allowed([p], monitor, web)).toBe(false);
    // A pod whose namespace is missing from the snapshot still carries it.
    const stray = pod('blog2', 'x', {}, { ips: ['10.8.0.1'] });
    const q = ingressFrom([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'blog2' } } }]);
    expect(decide(snapshot(namespaces, [...pods, stray], [q]), stray, web, 8080).allowed).toBe(true);
  });

  describe('label selector operators', () => {
    const sel = (matchExpressions: NonNullable<NonNullable<NetworkPolicy['spec']['podSelector']>['matchExpressions']>) => ingressFrom([{ namespaceSelector: {}, podSelector: { matchExpressions } }]);
    it('In matches a listed value only', () => {
      const p = sel([{ key: 'app', operator: 'In', values: ['monitor', 'tool'] }]);
      expect(allowed([p], monitor, web)).toBe(true);
      expect(allowed([p], blogWeb, web)).toBe(false);
    });
    it('NotIn matches other values and pods without the key', () => {
      const p = sel([{ key: 'app', operator: 'NotIn', values: ['monitor'] }]);
      expect(allowed([p], blogWeb, web)).toBe(true);
      expect(allowed([p], monitor, web)).toBe(false);
      const q = sel([{ key: 'tier', operator: 'NotIn', values: ['frontend'] }]);
      expect(allowed([q], db, web)).toBe(true); // db has no tier label
    });
    it('Exists needs the key, whatever its value', () => {
      const p = sel([{ key: 'tier', operator: 'Exists' }]);
      expect(allowed([p], web, web)).toBe(true);
      expect(allowed([p], db, web)).toBe(false);
    });
    it('DoesNotExist needs the key absent', () => {
      const p = sel([{ key: 'tier', operator: 'DoesNotExist' }]);
      expect(allowed([p], db, web)).toBe(true);
      expect(allowed([p], web, web)).toBe(false);
    });
    it('matchLabels and matchExpressions are ANDed', () => {
      const p = ingressFrom([{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'monitor' }, matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['monitor'] }] } }]);
      expect(allowed([p], monitor, web)).toBe(false);
      const q = ingressFrom([{ namespaceSelector: { matchLabels: { env: 'prod' }, matchExpressions: [{ key: 'team', operator: 'In', values: ['ops'] }] } }]);
      expect(allowed([q], monitor, web)).toBe(true);
      expect(allowed([q], db, web)).toBe(false);
    });
  });

  it('a peer with no field set matches nothing (the apiserver refuses it)', () => {
    expect(allowed([ingressFrom([{}])], db, web)).toBe(false);
  });
});

describe('ipBlock', () => {
  const block = (cidr: string, except?: string[]) => ingressFrom([{ ipBlock: { cidr, ...(except ? { except } : {}) } }]);

  it('admits external addresses inside the CIDR only', () => {
    const p = block('198.51.100.0/24');
    expect(allowed([p], ext('198.51.100.77'), web)).toBe(true);
    expect(allowed([p], ext('198.51.101.1'), web)).toBe(false);
  });

  it('except carves addresses out of the CIDR', () => {
    const p = block('0.0.0.0/0', ['10.0.0.0/8', '192.168.0.0/16']);
    expect(allowed([p], ext('8.8.8.8'), web)).toBe(true);
    expect(allowed([p], ext('10.200.1.1'), web)).toBe(false);
    expect(allowed([p], ext('192.168.3.3'), web)).toBe(false);
  });

  it('is matched against pod IPs too', () => {
    const p = block('10.2.0.0/16');
    expect(allowed([p], blogWeb, web)).toBe(true);
    expect(allowed([p], monitor, web)).toBe(false);
  });

  it('a pod with several IPs matches when any IP is inside and not excepted', () => {
    const p = block('10.0.0.0/8', ['10.2.0.0/16']);
    const dual = pod('blog', 'dual', {}, { ips: ['10.2.0.50', '10.7.0.50'] });
    const onlyExcepted = pod('blog', 'inside-except', {}, { ips: ['10.2.0.51', '172.16.0.1'] });
    const s = snapshot(namespaces, [...pods, dual, onlyExcepted], [p]);
    expect(decide(s, dual, web, 8080).allowed).toBe(true);
    expect(decide(s, onlyExcepted, web, 8080).allowed).toBe(false);
  });

  it('a pod without IPs in manifests may be anywhere: inside any ipBlock, its excepts too, but not an unparsable one', () => {
    const pending = pod('blog', 'pending', {});
    const anywhere = (ps: NetworkPolicy[]) => ({ ...snapshot(namespaces, [...pods, pending], ps), podsWithoutIpAnywhere: true });
    for (const p of [block('0.0.0.0/0'), block('10.0.0.0/8', ['10.0.0.0/16']), block('fd00::/8')]) {
      expect(decide(anywhere([p]), pending, web, 8080).allowed).toBe(true);
      // In a live cluster a pod without an IP has no network yet: no ipBlock holds it.
      expect(decide(snapshot(namespaces, [...pods, pending], [p]), pending, web, 8080).allowed).toBe(false);
    }
    const broken = np('shop', 'broken', { ingress: [{ from: [{ ipBlock: { cidr: 'nope' } }] }] });
    expect(decide(anywhere([broken]), pending, web, 8080).allowed).toBe(false);
  });

  it('handles IPv6 blocks and keeps families apart', () => {
    const p = block('2001:db8::/32', ['2001:db8:ff::/48']);
    expect(allowed([p], ext('2001:db8:1::1'), web)).toBe(true);
    expect(allowed([p], ext('2001:db8:ff::1'), web)).toBe(false);
    expect(allowed([p], ext('32.1.13.184'), web)).toBe(false);
    expect(allowed([block('0.0.0.0/0')], ext('2001:db8::1'), web)).toBe(false);
  });

  it('restricts egress to outside addresses', () => {
    const p = np('shop', 'to-internet', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] } }] }] });
    expect(allowed([p], web, ext('8.8.8.8'), 443)).toBe(true);
    expect(allowed([p], web, ext('10.0.0.1'), 443)).toBe(false);
    expect(allowed([p], web, blogWeb, 80)).toBe(false); // 10.2.0.10 is excepted
  });
});

describe('ports and protocols', () => {
  const ports = (...list: NonNullable<NonNullable<NetworkPolicy['spec']['ingress']>[number]['ports']>) =>
    np('shop', 'ports', { policyTypes: ['Ingress'], ingress: [{ ports: list }] });

  it('a numeric port admits that port only', () => {
    expect(allowed([ports({ protocol: 'TCP', port: 8080 })], blogWeb, web, 8080)).toBe(true);
    expect(allowed([ports({ protocol: 'TCP', port: 8080 })], blogWeb, web, 8081)).toBe(false);
  });

  it('protocol defaults to TCP', () => {
    const p = ports({ port: 53 } as never);
    expect(allowed([p], blogWeb, web, 53, 'TCP')).toBe(true);
    expect(allowed([p], blogWeb, web, 53, 'UDP')).toBe(false);
  });

  it('UDP and SCTP rules admit their own protocol only', () => {
    expect(allowed([ports({ protocol: 'UDP', port: 53 })], blogWeb, web, 53, 'UDP')).toBe(true);
    expect(allowed([ports({ protocol: 'UDP', port: 53 })], blogWeb, web, 53, 'TCP')).toBe(false);
    expect(allowed([ports({ protocol: 'SCTP', port: 3868 })], blogWeb, web, 3868, 'SCTP')).toBe(true);
    expect(allowed([ports({ protocol: 'SCTP', port: 3868 })], blogWeb, web, 3868, 'TCP')).toBe(false);
    expect(allowed([ports({ protocol: 'SCTP', port: 3868 })], blogWeb, web, 3868, 'UDP')).toBe(false);
  });

  it('a port entry without a port admits every port of its protocol', () => {
    const p = ports({ protocol: 'UDP' });
    expect(allowed([p], blogWeb, web, 1, 'UDP')).toBe(true);
    expect(allowed([p], blogWeb, web, 65535, 'UDP')).toBe(true);
    expect(allowed([p], blogWeb, web, 53, 'TCP')).toBe(false);
  });

  it('endPort makes an inclusive range', () => {
    const p = ports({ protocol: 'TCP', port: 32000, endPort: 32768 });
    expect(allowed([p], blogWeb, web, 32000)).toBe(true);
    expect(allowed([p], blogWeb, web, 32400)).toBe(true);
    expect(allowed([p], blogWeb, web, 32768)).toBe(true);
    expect(allowed([p], blogWeb, web, 31999)).toBe(false);
    expect(allowed([p], blogWeb, web, 32769)).toBe(false);
  });

  it('several entries in one rule are ORed', () => {
    const p = ports({ protocol: 'TCP', port: 80 }, { protocol: 'UDP', port: 53 });
    expect(allowed([p], blogWeb, web, 80)).toBe(true);
    expect(allowed([p], blogWeb, web, 53, 'UDP')).toBe(true);
    expect(allowed([p], blogWeb, web, 53, 'TCP')).toBe(false);
  });

  it('a named port in an ingress rule is resolved on the destination pod', () => {
    const shop = ports({ protocol: 'TCP', port: 'http' });
    expect(allowed([shop], blogWeb, web, 8080)).toBe(true);
    expect(allowed([shop], blogWeb, web, 80)).toBe(false);
    const blog = np('blog', 'named', { policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 'http' }] }] });
    expect(allowed([blog], web, blogWeb, 80)).toBe(true);
    expect(allowed([blog], web, blogWeb, 8080)).toBe(false);
  });

  it('a named port in an egress rule is resolved on the destination pod too, and never matches outside the cluster', () => {
    const p = np('shop', 'named-out', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'TCP', port: 'postgres' }] }] });
    expect(allowed([p], web, db, 5432)).toBe(true);
    expect(allowed([p], web, db, 5433)).toBe(false);
    expect(allowed([p], web, ext('8.8.8.8'), 5432)).toBe(false);
    // web itself declares no "postgres": the source's ports do not count.
    expect(allowed([p], web, blogWeb, 5432)).toBe(false);
  });

  it('a named port matches only a container port of the same protocol', () => {
    expect(allowed([ports({ protocol: 'TCP', port: 'dns' })], blogWeb, web, 53, 'UDP')).toBe(false);
    expect(allowed([ports({ protocol: 'TCP', port: 'dns' })], blogWeb, web, 53, 'TCP')).toBe(false);
    expect(allowed([ports({ protocol: 'UDP', port: 'dns' })], blogWeb, web, 53, 'UDP')).toBe(true);
  });

  it('a name no container declares never matches', () => {
    expect(allowed([ports({ protocol: 'TCP', port: 'grpc' })], blogWeb, web, 8080)).toBe(false);
  });
});

describe('outside the cluster', () => {
  it('traffic from outside is only subject to the destination pod\'s ingress', () => {
    const d = check([denyIngress], ext('8.8.8.8'), web);
    expect(d.egress).toMatchObject({ allowed: true, isolated: false });
    expect(d.egress.reason).toMatch(/external/);
    expect(d.allowed).toBe(false);
    expect(allowed([denyEgress], ext('8.8.8.8'), web)).toBe(true);
  });

  it('traffic to outside is only subject to the source pod\'s egress', () => {
    expect(check([denyEgress], web, ext('8.8.8.8'), 443).ingress).toMatchObject({ allowed: true, isolated: false });
    expect(allowed([denyIngress], web, ext('8.8.8.8'), 443)).toBe(true);
  });
});

describe('hostNetwork pods', () => {
  const opsDeny = np('ops', 'deny-all', { policyTypes: ['Ingress', 'Egress'] });
  it('are treated as unrestricted for their own side, with a reason that says so', () => {
    const d = check([opsDeny], web, hostAgent, 9100);
    expect(d.allowed).toBe(true);
    expect(d.ingress).toMatchObject({ allowed: true, isolated: false, reason: 'hostNetwork: undefined by the API, treated as unrestricted' });
    expect(check([opsDeny], hostAgent, ext('8.8.8.8'), 443).egress.reason).toBe('hostNetwork: undefined by the API, treated as unrestricted');
  });

  it('still meet the other side\'s policies, matched by their labels and IPs', () => {
    expect(allowed([denyIngress], hostAgent, web)).toBe(false);
    expect(allowed([denyIngress, ingressFrom([{ namespaceSelector: { matchLabels: { team: 'ops' } }, podSelector: { matchLabels: { app: 'agent' } } }])], hostAgent, web)).toBe(true);
    expect(allowed([denyIngress, ingressFrom([{ ipBlock: { cidr: '192.168.0.0/24' } }])], hostAgent, web)).toBe(true);
  });
});
