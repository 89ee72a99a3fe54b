// The tenant proof: which allowed paths cross a tenant's boundary without being declared.
import { describe, expect, it } from 'vitest';
import type { LabelSelector, ValidTenant } from '../../../src/api/schema.ts';
import { planNamespace, policiesToApply } from '../../../src/policy/desired.ts';
import type { NetworkPolicy } from '../../../src/policy/types.ts';
import { IsolationAnalyzer, NON_TENANT, tenantBreaches, type Breach } from '../../../src/analysis/analyzer.ts';
import type { PodInfo } from '../../../src/analysis/types.ts';
import { tenant } from '../fixtures.ts';
import { np, ns, pod, snapshot } from './builders.ts';

const NAME = 'kubernetes.io/metadata.name';
const byName = (names: string[]): LabelSelector => ({ matchExpressions: [{ key: NAME, operator: 'In', values: names }] });

interface World { tenants: ValidTenant[]; membership: Map<string, string[]>; pods: PodInfo[]; extra: NetworkPolicy[] }

function world(o: Partial<World> & { tenants: ValidTenant[]; membership: Map<string, string[]>; anywhere?: boolean }): IsolationAnalyzer {
  const namespaces = [ns('kube-system'), ns('shared', { team: 'shared' }), ...[...o.membership.values()].flat().map((n) => ns(n))];
  const pods = o.pods ?? defaultPods();
  const policies: NetworkPolicy[] = [...(o.extra ?? [])];
  for (const t of o.tenants) {
    for (const n of o.membership.get(t.name) ?? []) policies.push(...policiesToApply(planNamespace(n, [t], (x) => o.membership.get(x) ?? [])));
  }
  return IsolationAnalyzer.fromSnapshot(snapshot(namespaces, pods, policies), o.tenants, o.membership, { podsWithoutIpAnywhere: o.anywhere === true });
}

function defaultPods(): PodInfo[] {
  return [
    pod('kube-system', 'coredns', { 'k8s-app': 'kube-dns' }, { ips: ['10.0.0.10'], ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }] }),
    pod('shared', 'cache', { app: 'cache' }, { ips: ['10.9.0.1'], ports: [{ name: 'redis', containerPort: 6379 }] }),
    pod('acme-1', 'web', { app: 'web' }, { ips: ['10.1.1.1'], ports: [{ name: 'http', containerPort: 8080 }] }),
    pod('acme-1', 'web-2', { app: 'web' }, { ips: ['10.1.1.2'], ports: [{ name: 'http', containerPort: 8080 }] }),
    pod('acme-2', 'api', { app: 'api' }, { ips: ['10.1.2.1'], ports: [{ name: 'http', containerPort: 9000 }] }),
    pod('globex-1', 'app', { app: 'app' }, { ips: ['10.2.1.1'], ports: [{ name: 'http', containerPort: 80 }] }),
  ];
}

const acme = (extra: Record<string, unknown> = {}) => tenant('acme', { namespaces: ['acme-1', 'acme-2'], ...extra });
const globex = (extra: Record<string, unknown> = {}) => tenant('globex', { namespaces: ['globex-1'], ...extra });
const membership = (): Map<string, string[]> => new Map([['acme', ['acme-1', 'acme-2']], ['globex', ['globex-1']]]);
const summary = (bs: Breach[]): string[] => bs.map((b) => `${b.direction} ${b.pods.join('+')} ${b.peer} ${b.protocol}/${b.port}${b.endPort ? `-${b.endPort}` : ''} ${b.policy ?? '-'}`);

describe('tenant breaches', () => {
  it('a tenant with only the operator\'s policies has no breach, and neither has its neighbour', () => {
    const a = world({ tenants: [acme(), globex()], membership: membership() });
    expect(a.breaches('acme')).toEqual([]);
    expect(a.breaches('globex')).toEqual([]);
    expect(a.breaches('nobody')).toEqual([]);
  });

  it('DNS to the tenant\'s DNS pods on its DNS ports is declared; other ports to the same pods are not', () => {
    const open = np('acme-1', 'to-kube-system', { policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { [NAME]: 'kube-system' } } }] }] });
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [open] });
    expect(summary(a.breaches('acme'))).toEqual([
      'egress acme-1/web+acme-1/web-2 namespace kube-system SCTP/1-65535 acme-1/to-kube-system',
      'egress acme-1/web+acme-1/web-2 namespace kube-system TCP/1-52 acme-1/to-kube-system',
      'egress acme-1/web+acme-1/web-2 namespace kube-system TCP/54-65535 acme-1/to-kube-system',
      'egress acme-1/web+acme-1/web-2 namespace kube-system UDP/1-52 acme-1/to-kube-system',
      'egress acme-1/web+acme-1/web-2 namespace kube-system UDP/54-65535 acme-1/to-kube-system',
    ]);
    const b = a.breaches('acme')[0]!;
    expect(b).toMatchObject({ tenant: 'acme', direction: 'egress', protocol: 'SCTP', port: 1, endPort: 65535, policy: 'acme-1/to-kube-system' });
    expect(b.message).toMatch(/acme-1\/to-kube-system admits it/);
    expect(b.message).toMatch(/does not declare it/);
  });

  it('DNS ipBlocks are declared on the DNS ports only', () => {
    const t = acme({ dns: { ipBlocks: [{ cidr: '169.254.20.10/32' }] } });
    const open = np('acme-1', 'to-node-local', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '169.254.20.10/32' } }] }] });
    const a = world({ tenants: [t], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open] });
    const got = summary(a.breaches('acme'));
    expect(got).toContain('egress acme-1/web+acme-1/web-2 external 169.254.20.10 TCP/54-65535 acme-1/to-node-local');
    expect(got.some((s) => s.includes('UDP/53') || s.includes('TCP/53 '))).toBe(false);
  });

  it('a peer pod that only shares the DNS labels in another namespace is not declared', () => {
    const fake = pod('shared', 'fake-dns', { 'k8s-app': 'kube-dns' }, { ips: ['10.9.0.53'] });
    const open = np('acme-1', 'to-shared', { policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { team: 'shared' } } }], ports: [{ protocol: 'UDP', port: 53 }] }] });
    const a = world({ tenants: [acme()], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open], pods: [...defaultPods(), fake] });
    expect(summary(a.breaches('acme'))).toEqual(['egress acme-1/web+acme-1/web-2 namespace shared UDP/53 acme-1/to-shared']);
  });

  it('traffic between the tenant\'s member namespaces is never a breach, even when tenant policies open everything', () => {
    const openAll = (n: string) => np(n, 'open', { policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ namespaceSelector: byName(['acme-1', 'acme-2']) }] }], egress: [{ to: [{ namespaceSelector: byName(['acme-1', 'acme-2']) }] }] });
    const a = world({ tenants: [acme({ intraTenant: { enabled: false } })], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [openAll('acme-1'), openAll('acme-2')] });
    expect(a.breaches('acme')).toEqual([]);
  });

  it('an allow-all ingress written by the tenant is a breach from non-tenant pods and from outside, but not from an isolated neighbour', () => {
    const allowAll = np('acme-1', 'allow-all', { policyTypes: ['Ingress'], ingress: [{}] });
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [allowAll] });
    const got = summary(a.breaches('acme'));
    expect(got).toContain('ingress acme-1/web+acme-1/web-2 namespace shared TCP/1-65535 acme-1/allow-all');
    expect(got).toContain('ingress acme-1/web+acme-1/web-2 namespace kube-system UDP/1-65535 acme-1/allow-all');
    expect(got).toContain('ingress acme-1/web+acme-1/web-2 external 8.8.8.8 SCTP/1-65535 acme-1/allow-all');
    expect(got).toContain('ingress acme-1/web+acme-1/web-2 external 203.0.113.9 TCP/1-65535 acme-1/allow-all');
    expect(got.some((s) => s.includes('globex'))).toBe(false); // globex's egress is denied by its own default deny
    expect(got.some((s) => s.includes('acme-2'))).toBe(false);
    expect(a.breaches('globex')).toEqual([]);
  });

  it('the same allow-all becomes a breach from the neighbour once the neighbour opens its egress', () => {
    const allowAll = np('acme-1', 'allow-all', { policyTypes: ['Ingress'], ingress: [{}] });
    const gOut = np('globex-1', 'out', { policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'TCP', port: 8080 }] }] });
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [allowAll, gOut] });
    expect(summary(a.breaches('acme'))).toContain('ingress acme-1/web+acme-1/web-2 namespace globex-1 TCP/8080 acme-1/allow-all');
    // For globex it is an egress breach, attributed to its own policy.
    expect(summary(a.breaches('globex'))).toContain('egress globex-1/app namespace acme-1 TCP/8080 globex-1/out');
  });

  it('declared ingressFrom paths are not breaches; the same peer on other ports is', () => {
    const t = acme({ allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { team: 'shared' } }, ports: [{ port: 8080 }] }] } });
    const a = world({ tenants: [t], membership: new Map([['acme', ['acme-1', 'acme-2']]]) });
    expect(a.breaches('acme')).toEqual([]);
    const wider = np('acme-1', 'from-shared', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shared' } } }], ports: [{ protocol: 'TCP', port: 8000, endPort: 8100 }] }] });
    const b = world({ tenants: [t], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [wider] });
    expect(summary(b.breaches('acme'))).toEqual([
      'ingress acme-1/web+acme-1/web-2 namespace shared TCP/8000-8079 acme-1/from-shared',
      'ingress acme-1/web+acme-1/web-2 namespace shared TCP/8081-8100 acme-1/from-shared',
    ]);
  });

  it('declared named ports are resolved on the destination', () => {
    const t = acme({ allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { team: 'shared' } }, ports: [{ port: 'http' }] }] } });
    const open = (n: string) => np(n, 'from-shared', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shared' } } }], ports: [{ protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 9000 }] }] });
    const a = world({ tenants: [t], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open('acme-1'), open('acme-2')] });
    // web's "http" is 8080 and api's is 9000: each is declared where it resolves, not elsewhere.
    expect(summary(a.breaches('acme'))).toEqual([
      'ingress acme-1/web+acme-1/web-2 namespace shared TCP/9000 acme-1/from-shared',
      'ingress acme-2/api namespace shared TCP/8080 acme-2/from-shared',
    ]);
  });

  it('declared egressTo ipBlocks cover outside addresses, and a wider tenant policy shows up per address region', () => {
    const t = acme({ allow: { egressTo: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }, ports: [{ port: 443 }] }] } });
    const a = world({ tenants: [t], membership: new Map([['acme', ['acme-1', 'acme-2']]]) });
    expect(a.breaches('acme')).toEqual([]);
    const wide = np('acme-2', 'internet', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 443 }] }] });
    const b = world({ tenants: [t], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [wide] });
    const got = summary(b.breaches('acme'));
    // 10.0.0.0/8 is carved out of the declaration: an address there and every pod outside the tenant is a breach.
    expect(got).toContain('egress acme-2/api external 10.0.0.0 TCP/443 acme-2/internet');
    expect(got).toContain('egress acme-2/api namespace shared TCP/443 acme-2/internet');
    expect(got).not.toContain('egress acme-2/api external 8.8.8.8 TCP/443 acme-2/internet');
    expect(got.every((s) => s.startsWith('egress acme-2/api'))).toBe(true);
  });

  it('every region of the address space is probed, the first one and IPv6 where the tenant has IPv6 pods', () => {
    // Declared: everything from 8.0.0.0 up, on 443. A tenant-written open egress on 443 reaches 0.0.0.0/5 too.
    const upper = ['8.0.0.0/5', '16.0.0.0/4', '32.0.0.0/3', '64.0.0.0/2', '128.0.0.0/1'].map((cidr) => ({ ipBlock: { cidr }, ports: [{ port: 443 }] }));
    const open443 = np('acme-2', 'https-out', { policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'TCP', port: 443 }] }] });
    const v4 = world({ tenants: [acme({ allow: { egressTo: upper } })], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open443] });
    expect(summary(v4.breaches('acme'))).toContain('egress acme-2/api external 0.0.0.0 TCP/443 acme-2/https-out');
    // Declared: all of IPv4. An IPv4-only cluster has no other path; a dual-stack pod reaches IPv6 too.
    const all4 = acme({ allow: { egressTo: [{ ipBlock: { cidr: '0.0.0.0/0' }, ports: [{ port: 443 }] }] } });
    const single = world({ tenants: [all4], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open443] });
    expect(summary(single.breaches('acme')).filter((b) => b.includes('external'))).toEqual([]);
    const dual = defaultPods().map((p) => (p.name === 'api' ? { ...p, ips: [...p.ips, 'fd00:1::5'] } : p));
    const both = world({ tenants: [all4], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open443], pods: dual });
    expect(summary(both.breaches('acme'))).toEqual(['egress acme-2/api external 0:0:0:0:0:0:0:0 TCP/443 acme-2/https-out']);
  });

  it('a declared ipBlock covers a dual-stack peer only at the addresses it contains', () => {
    // shared/cache has an IPv4 and an IPv6 address; only the IPv6 one is declared. Over IPv4 the
    // tenant's own policy admits it too: undeclared.
    const pods = defaultPods().map((p) => (p.name === 'cache' ? { ...p, ips: ['10.9.0.1', 'fd00:9::1'] } : p));
    const fromShared = np('acme-1', 'from-shared', { ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shared' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }] });
    const v6only = acme({ allow: { ingressFrom: [{ ipBlock: { cidr: 'fd00:9::/64' }, ports: [{ port: 8080 }] }] } });
    const got = summary(world({ tenants: [v6only], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [fromShared], pods }).breaches('acme'));
    expect(got).toContain('ingress acme-1/web+acme-1/web-2 namespace shared TCP/8080 acme-1/from-shared');
    // Both of its addresses declared: covered.
    const both = acme({ allow: { ingressFrom: ['fd00:9::/64', '10.9.0.0/16'].map((cidr) => ({ ipBlock: { cidr }, ports: [{ port: 8080 }] })) } });
    expect(summary(world({ tenants: [both], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [fromShared], pods }).breaches('acme')).filter((b) => b.includes('namespace shared'))).toEqual([]);
  });

  it('a tenant with no policies (Audit) reports every peer on every port, with no policy to blame', () => {
    const t = acme({ mode: 'Audit' });
    const a = world({ tenants: [t, globex()], membership: membership() });
    const got = a.breaches('acme');
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((b) => b.policy === null)).toBe(true);
    expect(summary(got)).toContain('ingress acme-2/api namespace shared TCP/1-65535 -');
    expect(summary(got)).toContain('egress acme-2/api namespace kube-system TCP/54-65535 -');
    expect(summary(got).some((s) => s.includes('globex'))).toBe(false); // globex is isolated both ways
    expect(got[0]!.message).toMatch(/not isolated/);
  });

  it('reports peer pods one by one when only some pods of a namespace are reachable', () => {
    const open = np('acme-1', 'to-cache', { policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: { matchLabels: { team: 'shared' } }, podSelector: { matchLabels: { app: 'cache' } } }] }] });
    const other = pod('shared', 'queue', { app: 'queue' }, { ips: ['10.9.0.2'] });
    const a = world({ tenants: [acme()], membership: new Map([['acme', ['acme-1', 'acme-2']]]), extra: [open], pods: [...defaultPods(), other] });
    expect(summary(a.breaches('acme')).filter((s) => s.includes('TCP'))).toEqual(['egress acme-1/web+acme-1/web-2 shared/cache TCP/1-65535 acme-1/to-cache']);
  });

  it('a hostNetwork pod in a tenant namespace is unrestricted, so every reachable path to it is reported', () => {
    const agent = pod('acme-1', 'agent', { app: 'agent' }, { ips: ['192.168.1.5'], hostNetwork: true });
    const a = world({ tenants: [acme()], membership: new Map([['acme', ['acme-1', 'acme-2']]]), pods: [...defaultPods(), agent] });
    const got = a.breaches('acme');
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((b) => b.pods.join() === 'acme-1/agent' && b.policy === null)).toBe(true);
  });

  it('a namespace several tenants claim belongs to none: its pods are outside both', () => {
    const contested = pod('contested', 'x', {}, { ips: ['10.7.0.1'] });
    const allowAll = np('acme-1', 'allow-all', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }] }] });
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [allowAll], pods: [...defaultPods(), contested] });
    expect(summary(a.breaches('acme'))).toContain('ingress acme-1/web+acme-1/web-2 namespace contested TCP/1-65535 acme-1/allow-all');
  });

  it('tenantBreaches is the one-shot form', () => {
    const allowAll = np('acme-1', 'allow-all', { policyTypes: ['Ingress'], ingress: [{}] });
    const s = world({ tenants: [acme(), globex()], membership: membership(), extra: [allowAll] }).snapshot();
    const out = tenantBreaches(s, [acme(), globex()], membership());
    expect([...out.keys()]).toEqual(['acme', 'globex']);
    expect(out.get('acme')!.length).toBeGreaterThan(0);
  });
});

describe('pods without an IP in manifests may have any address (in a live cluster they have no network yet)', () => {
  const one = new Map([['acme', ['acme-1', 'acme-2']]]);
  // shared/prom may send anywhere; acme-1 lets every namespace in.
  const egressAnywhere = (except?: string[]) => np('shared', 'egress-any', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', ...(except ? { except } : {}) } }] }] });
  const fromAllNs = np('acme-1', 'from-all-ns', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }] }] });
  const pods = (withIps: boolean): PodInfo[] => defaultPods().map((p) => (withIps ? p : { ...p, ips: [] }));

  it('the other side\'s ipBlock may hold them: the breach is the one their addresses would show', () => {
    const breach = 'ingress acme-1/web+acme-1/web-2 namespace shared TCP/1-65535 acme-1/from-all-ns';
    expect(summary(world({ anywhere: true, tenants: [acme()], membership: one, extra: [egressAnywhere(), fromAllNs], pods: pods(true) }).breaches('acme'))).toContain(breach);
    expect(summary(world({ anywhere: true, tenants: [acme()], membership: one, extra: [egressAnywhere(), fromAllNs], pods: pods(false) }).breaches('acme'))).toContain(breach);
  });

  it('an except may or may not hold them: a block that could contain the pod admits it', () => {
    // With its address (10.1.1.1) acme-1/web is excepted; without one it may be anywhere.
    const peer = (withIps: boolean) => summary(world({ anywhere: true, tenants: [acme()], membership: one, extra: [egressAnywhere(['10.0.0.0/8']), fromAllNs], pods: pods(withIps) }).breaches('acme')).filter((b) => b.includes('shared'));
    expect(peer(true)).toEqual([]);
    expect(peer(false)).toContain('ingress acme-1/web+acme-1/web-2 namespace shared TCP/1-65535 acme-1/from-all-ns');
    // A live cluster's pending pod: no address, no traffic; its verdicts come with its IP.
    const live = summary(world({ tenants: [acme()], membership: one, extra: [egressAnywhere(['10.0.0.0/8']), fromAllNs], pods: pods(false) }).breaches('acme'));
    expect(live.filter((b) => b.includes('shared'))).toEqual([]);
  });

  it('the tenant\'s own policies with ipBlocks (DNS ipBlocks, declared ipBlocks) admit no undeclared path to them', () => {
    const t = acme({
      dns: { ipBlocks: [{ cidr: '10.9.0.0/16' }] },
      allow: { egressTo: [{ ipBlock: { cidr: '0.0.0.0/0' }, ports: [{ port: 443 }] }], ingressFrom: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }, ports: [{ port: 'http' }] }] },
    });
    expect(world({ anywhere: true, tenants: [t, globex()], membership: membership(), pods: pods(false) }).breaches('acme')).toEqual([]);
    expect(world({ anywhere: true, tenants: [t, globex()], membership: membership(), pods: pods(true) }).breaches('acme')).toEqual([]);
  });

  it('an undeclared ipBlock rule of the tenant reaches them where an address would (a named port, which no outside address has)', () => {
    const metrics = defaultPods().map((p) => (p.name === 'cache' ? { ...p, containerPorts: [{ name: 'metrics', containerPort: 9090 }] } : p));
    const toMetrics = np('acme-2', 'to-metrics', { policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ports: [{ protocol: 'TCP', port: 'metrics' }] }] });
    const got = (withIps: boolean) => summary(world({ anywhere: true, tenants: [acme()], membership: one, extra: [toMetrics], pods: metrics.map((p) => (withIps ? p : { ...p, ips: [] })) }).breaches('acme'));
    expect(got(true)).toEqual(['egress acme-2/api namespace shared TCP/9090 acme-2/to-metrics']);
    expect(got(false)).toEqual(['egress acme-2/api namespace shared TCP/9090 acme-2/to-metrics']);
  });

  it('a declared ipBlock covers them where it would cover their address, not beyond', () => {
    // acme lets shared in on 8080; it declares only 10.9.0.0/16 there: an address outside it is undeclared.
    const fromShared = np('acme-1', 'from-shared', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'shared' } } }], ports: [{ protocol: 'TCP', port: 8080 }] }] });
    const t = acme({ allow: { ingressFrom: [{ ipBlock: { cidr: '10.9.0.0/16' }, ports: [{ port: 8080 }] }] } });
    const got = (withIps: boolean) => summary(world({ anywhere: true, tenants: [t], membership: one, extra: [fromShared], pods: pods(withIps) }).breaches('acme'));
    expect(got(true)).toEqual([]);
    expect(got(false)).toEqual(['ingress acme-1/web+acme-1/web-2 namespace shared TCP/8080 acme-1/from-shared']);
  });
});

describe('cluster-wide views', () => {
  it('podsSelectedByNoPolicy lists pods no policy isolates for ingress', () => {
    const a = world({ tenants: [acme(), globex()], membership: membership() });
    expect(a.podsSelectedByNoPolicy()).toEqual(['kube-system/coredns', 'shared/cache']);
    a.setPolicy(np('shared', 'egress-only', { policyTypes: ['Egress'] }));
    expect(a.podsSelectedByNoPolicy()).toEqual(['kube-system/coredns', 'shared/cache']);
    a.setPolicy(np('shared', 'deny-in', { policyTypes: ['Ingress'] }));
    expect(a.podsSelectedByNoPolicy()).toEqual(['kube-system/coredns']);
  });

  it('allowedPairs lists every ordered pair of distinct pods allowed on the port', () => {
    const a = world({ tenants: [acme(), globex()], membership: membership() });
    const pairs = (port: number, proto: 'TCP' | 'UDP' = 'TCP') => a.allowedPairs(port, proto).map(([x, y]) => `${x}>${y}`).sort();
    const acmePods = ['acme-1/web', 'acme-1/web-2', 'acme-2/api'];
    const open = ['kube-system/coredns', 'shared/cache'];
    const expected = [
      ...acmePods.flatMap((x) => acmePods.filter((y) => y !== x).map((y) => `${x}>${y}`)),
      ...open.flatMap((x) => open.filter((y) => y !== x).map((y) => `${x}>${y}`)),
    ].sort();
    expect(pairs(8080)).toEqual(expected);
    expect(pairs(53, 'UDP')).toEqual([...expected, ...acmePods.map((x) => `${x}>kube-system/coredns`), 'globex-1/app>kube-system/coredns'].sort());
  });

  it('tenantMatrix counts allowed pod pairs per tenant pair', () => {
    const a = world({ tenants: [acme(), globex()], membership: membership() });
    const m = a.tenantMatrix(53, 'UDP');
    expect(m.tenants).toEqual(['acme', 'globex', NON_TENANT]);
    expect(m.counts).toEqual({
      acme: { acme: 6, globex: 0, [NON_TENANT]: 3 },
      globex: { acme: 0, globex: 0, [NON_TENANT]: 1 },
      [NON_TENANT]: { acme: 0, globex: 0, [NON_TENANT]: 2 },
    });
  });
});

describe('incremental updates', () => {
  it('forgets namespaces that come and go (a CI cluster), and still sees one that comes back', () => {
    // globex open to everyone: its proof consults every peer's egress policies.
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [np('globex-1', 'open', { policyTypes: ['Ingress'], ingress: [{}] })] });
    a.allBreaches();
    const internals = (): number[] => {
      const m = (a as unknown as { model: { classesByNs: Map<string, unknown>; classesByBlock: Map<number, unknown> } }).model;
      const t = (a as unknown as { tracker: { policyDependents: Map<string, unknown> } }).tracker;
      return [m.classesByNs.size, m.classesByBlock.size, t.policyDependents.size];
    };
    const before = internals();
    for (let i = 0; i < 200; i++) {
      const n = `ci-${i}`;
      a.setNamespace(ns(n));
      a.setPod(pod(n, 'job', { app: 'job' }, { ips: [`10.7.${i >> 8}.${i & 255}`] }));
      a.setPolicy(np(n, 'egress-only', { policyTypes: ['Egress'] }));
      a.allBreaches(); // the tenants consult its pods (and so its policies) as peers
      a.deletePolicy(n, 'egress-only');
      a.deletePod(n, 'job');
      a.deleteNamespace(n);
      a.allBreaches();
    }
    expect(internals()).toEqual(before);
    // A namespace that comes back is seen again: globex letting it in is a breach, until a policy there
    // (found through the re-indexed dependents) stops its pods' egress.
    a.setNamespace(ns('ci-0'));
    a.setPod(pod('ci-0', 'job', { app: 'job' }, { ips: ['10.7.0.0'] }));
    expect(summary(a.breaches('globex')).some((b) => b.includes('namespace ci-0'))).toBe(true);
    a.setPolicy(np('ci-0', 'deny-egress', { policyTypes: ['Egress'] }));
    expect(summary(a.breaches('globex')).some((b) => b.includes('namespace ci-0'))).toBe(false);
  });

  it('recomputes only the tenants a policy change touches', () => {
    const a = world({ tenants: [acme(), globex()], membership: membership() });
    a.allBreaches();
    const base = a.stats().recomputations;
    a.setPolicy(np('globex-1', 'open', { policyTypes: ['Ingress'], ingress: [{}] }));
    a.allBreaches();
    expect(a.stats().recomputations - base).toBe(1);
    expect(a.breaches('globex').length).toBeGreaterThan(0);
    // Re-applying an identical spec changes nothing.
    a.setPolicy(np('globex-1', 'open', { policyTypes: ['Ingress'], ingress: [{}] }));
    a.allBreaches();
    expect(a.stats().recomputations - base).toBe(1);
    a.deletePolicy('globex-1', 'open');
    expect(a.breaches('globex')).toEqual([]);
  });

  it('keeps one copy of each policy: set in any order, replaced, deleted, and given back by snapshot', () => {
    const a = IsolationAnalyzer.fromSnapshot(snapshot([ns('n1'), ns('n2')], [], []), [], new Map());
    const spec = (port: number) => ({ policyTypes: ['Ingress' as const], ingress: [{ ports: [{ protocol: 'TCP' as const, port }] }] });
    for (const [n, name, port] of [['n1', 'c', 1], ['n1', 'a', 2], ['n2', 'x', 3], ['n1', 'b', 4], ['n1', 'a', 5]] as const) a.setPolicy(np(n, name, spec(port)));
    const listed = () => a.snapshot().policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}:${JSON.stringify(p.spec.ingress)}`);
    expect(listed()).toEqual([
      'n1/a:[{"ports":[{"protocol":"TCP","port":5}]}]', 'n1/b:[{"ports":[{"protocol":"TCP","port":4}]}]', 'n1/c:[{"ports":[{"protocol":"TCP","port":1}]}]', 'n2/x:[{"ports":[{"protocol":"TCP","port":3}]}]',
    ]);
    expect(a.stats().policies).toBe(4);
    a.deletePolicy('n1', 'b');
    a.deletePolicy('n1', 'nope');
    a.deletePolicy('n2', 'x');
    expect(listed()).toEqual(['n1/a:[{"ports":[{"protocol":"TCP","port":5}]}]', 'n1/c:[{"ports":[{"protocol":"TCP","port":1}]}]']);
    expect(a.stats().policies).toBe(2);
  });

  it('a tenant set again with an equal spec and the same members (any order) is not recomputed; owners follow overlapping member lists', () => {
    const a = world({ tenants: [acme(), globex()], membership: membership() });
    a.allBreaches();
    const base = a.stats().recomputations;
    a.setTenant(acme(), ['acme-2', 'acme-1', 'acme-1']); // a new spec object, equal; members reordered
    a.allBreaches();
    expect(a.stats().recomputations - base).toBe(0);
    a.setTenant(acme(), ['acme-1']);
    a.allBreaches();
    expect(a.stats().recomputations - base).toBe(1);
    expect(a.tenantsOf('acme-2')).toEqual([]);
    // Two tenants given the same namespace (callers may pass overlapping lists): both own it, until one goes.
    a.setTenant(globex(), ['globex-1', 'acme-1']);
    expect(a.tenantsOf('acme-1')).toEqual(['acme', 'globex']);
    a.deleteTenant('acme');
    expect(a.tenantsOf('acme-1')).toEqual(['globex']);
    a.setTenant(globex(), ['globex-1']);
    expect(a.tenantsOf('acme-1')).toEqual([]);
    expect(a.tenantsOf('globex-1')).toEqual(['globex']);
  });

  it('a peer namespace\'s policy change reaches the tenants that consulted it', () => {
    const allowAll = np('acme-1', 'allow-all', { policyTypes: ['Ingress'], ingress: [{}] });
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [allowAll] });
    expect(summary(a.breaches('acme'))).toContain('ingress acme-1/web+acme-1/web-2 namespace shared TCP/1-65535 acme-1/allow-all');
    a.setPolicy(np('shared', 'deny-out', { policyTypes: ['Egress'] }));
    expect(summary(a.breaches('acme')).some((s) => s.includes('shared'))).toBe(false);
  });

  it('a tenant pod\'s first IPv6 address brings in the IPv6 samples, as a fresh analysis has them', () => {
    // Everything open, all of IPv4 declared: only an IPv6 address outside is undeclared.
    const t = tenant('t', { namespaces: ['t-a'], dns: { enabled: false }, allow: { egressTo: [{ ipBlock: { cidr: '0.0.0.0/0' }, ports: [] }], ingressFrom: [{ ipBlock: { cidr: '0.0.0.0/0' }, ports: [] }] } });
    const members = new Map([['t', ['t-a']]]);
    const open = np('t-a', 'open', { policyTypes: ['Ingress', 'Egress'], ingress: [{}], egress: [{}] });
    const changes: [string[], string[]][] = [[[], ['fd00::5']], [['10.0.0.5'], ['fd00::5']], [['fd00::5'], ['10.0.0.5']]];
    for (const [before, after] of changes) {
      const what = `${before.join()} -> ${after.join()}`;
      const a = IsolationAnalyzer.fromSnapshot(snapshot([ns('t-a')], [pod('t-a', 'p', {}, { ips: before })], [open]), [t], members);
      a.breaches('t');
      a.takeTouched();
      a.setPod(pod('t-a', 'p', {}, { ips: after }));
      const fresh = IsolationAnalyzer.fromSnapshot(a.snapshot(), [t], members);
      expect(summary(a.breaches('t')), what).toEqual(summary(fresh.breaches('t')));
      if (after.includes('fd00::5')) {
        expect(a.takeTouched(), what).toEqual(['t']);
        expect(summary(fresh.breaches('t')).filter((b) => b.includes('external 0:0:0:0:0:0:0:0')).length, what).toBe(6);
      }
    }
  });

  it('pods, namespaces and tenants update the results they touch', () => {
    const allowAll = np('acme-1', 'allow-all', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { open: 'yes' } } }] }] });
    const a = world({ tenants: [acme(), globex()], membership: membership(), extra: [allowAll] });
    expect(a.breaches('acme')).toEqual([]);
    // A labelled namespace without pods changes nothing yet...
    a.setNamespace(ns('newcomer', { open: 'yes' }));
    expect(a.breaches('acme')).toEqual([]);
    // ...until a pod lands in it.
    a.setPod(pod('newcomer', 'p', {}, { ips: ['10.6.0.1'] }));
    expect(summary(a.breaches('acme'))).toEqual(['SCTP', 'TCP', 'UDP'].map((p) => `ingress acme-1/web+acme-1/web-2 namespace newcomer ${p}/1-65535 acme-1/allow-all`));
    a.setNamespace(ns('newcomer', { open: 'no' }));
    expect(a.breaches('acme')).toEqual([]);
    a.setNamespace(ns('newcomer', { open: 'yes' }));
    a.deletePod('newcomer', 'p');
    expect(a.breaches('acme')).toEqual([]);
    // Declaring the path in the tenant removes the breach.
    a.setPod(pod('newcomer', 'p', {}, { ips: ['10.6.0.1'] }));
    expect(a.breaches('acme').length).toBe(3);
    a.setTenants([acme({ allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { open: 'yes' } } }] } }), globex()], membership());
    expect(a.breaches('acme')).toEqual([]);
  });
});
