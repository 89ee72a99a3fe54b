// Benchmark (not a test) of the pure reachability analyzer on a synthetic cluster: 400 tenants x 5
// namespaces, 10 pods per namespace over 3 label sets, the operator's own policies (planNamespace) plus
// tenant-written ones, a few of which breach isolation. Prints one JSON document.
//   node bench/analysis.ts [--tenants 400] [--namespaces-per-tenant 5] [--pods-per-namespace 10] [--changes 50]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseTenant, type ValidTenant } from '../src/api/schema.ts';
import { planNamespace, policiesToApply } from '../src/policy/desired.ts';
import type { NetworkPolicy, NetworkPolicySpec } from '../src/policy/types.ts';
import { IsolationAnalyzer } from '../src/analysis/analyzer.ts';
import type { NamespaceInfo, PodInfo, Snapshot } from '../src/analysis/types.ts';
import { checkTargets } from './lib.ts';

const { values } = parseArgs({ options: {
  tenants: { type: 'string', default: '400' },
  'namespaces-per-tenant': { type: 'string', default: '5' },
  'pods-per-namespace': { type: 'string', default: '10' },
  changes: { type: 'string', default: '50' },
} });
const TENANTS = Number(values.tenants);
const NS_PER_TENANT = Number(values['namespaces-per-tenant']);
const PODS_PER_NS = Number(values['pods-per-namespace']);
const CHANGES = Number(values.changes);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// Deterministic pseudo-random numbers, so runs compare.
let seed = 42;
const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000; };

const APPS = [
  { app: 'web', ports: [{ name: 'http', containerPort: 8080 }] },
  { app: 'api', ports: [{ name: 'http', containerPort: 9000 }, { name: 'grpc', containerPort: 9090 }] },
  { app: 'db', ports: [{ name: 'postgres', containerPort: 5432 }] },
] as const;

const np = (namespace: string, name: string, spec: NetworkPolicySpec): NetworkPolicy => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec });

function build(): { snapshot: Snapshot; tenants: ValidTenant[]; membership: Map<string, string[]>; tenantWritten: NetworkPolicy[] } {
  const namespaces: NamespaceInfo[] = [];
  const pods: PodInfo[] = [];
  const policies: NetworkPolicy[] = [];
  const tenantWritten: NetworkPolicy[] = [];
  const tenants: ValidTenant[] = [];
  const membership = new Map<string, string[]>();
  let ip = 0;
  const nextIp = (): string => { ip++; return `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`; };
  const addPods = (ns: string, count: number): void => {
    for (let i = 0; i < count; i++) {
      const a = APPS[i % APPS.length]!;
      pods.push({ namespace: ns, name: `${a.app}-${i}`, labels: { app: a.app, 'pod-template-hash': 'h1' }, ips: [nextIp()], containerPorts: a.ports.map((p) => ({ ...p })) });
    }
  };
  namespaces.push({ name: 'kube-system', labels: {} });
  pods.push({ namespace: 'kube-system', name: 'coredns-a', labels: { 'k8s-app': 'kube-dns' }, ips: [nextIp()], containerPorts: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }] });
  pods.push({ namespace: 'kube-system', name: 'coredns-b', labels: { 'k8s-app': 'kube-dns' }, ips: [nextIp()], containerPorts: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }] });
  pods.push({ namespace: 'kube-system', name: 'metrics-server', labels: { 'k8s-app': 'metrics-server' }, ips: [nextIp()], containerPorts: [{ name: 'https', containerPort: 10250 }] });
  for (const shared of ['ingress-nginx', 'monitoring']) { namespaces.push({ name: shared, labels: { role: shared } }); addPods(shared, PODS_PER_NS); }

  for (let t = 0; t < TENANTS; t++) {
    const name = `t${t}`;
    const spec: Record<string, unknown> = { namespaceSelector: { matchLabels: { tenant: name } } };
    if (t % 5 === 0) spec.allow = { ingressFrom: [{ namespaceSelector: { matchLabels: { role: 'ingress-nginx' } }, ports: [{ port: 'http' }] }] };
    if (t % 7 === 0) spec.allow = { ...(spec.allow as object), egressTo: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }, ports: [{ port: 443 }] }] };
    if (t === 3) spec.mode = 'Audit';
    const r = parseTenant({ metadata: { name, uid: `uid-${name}`, generation: 1 }, spec });
    if (!r.ok) throw new Error(r.error);
    tenants.push(r.tenant);
    const members = Array.from({ length: NS_PER_TENANT }, (_, i) => `${name}-ns${i}`);
    membership.set(name, members);
    for (const ns of members) { namespaces.push({ name: ns, labels: { tenant: name } }); addPods(ns, PODS_PER_NS); }
  }
  for (const t of tenants) {
    for (const ns of membership.get(t.name)!) {
      policies.push(...policiesToApply(planNamespace(ns, [t], (x) => membership.get(x) ?? [])));
      // What application teams write: web <- api, db <- api (same namespace), most namespaces.
      if (rand() < 0.9) {
        tenantWritten.push(np(ns, 'web-from-api', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 'http' }] }] }));
        tenantWritten.push(np(ns, 'db-from-api', { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }] }));
      }
    }
  }
  // A few breaching ones.
  tenantWritten.push(np('t11-ns0', 'open-web', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP', port: 8080 }] }] }));
  tenantWritten.push(np('t12-ns1', 'egress-anywhere', { podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Egress'], egress: [{}] }));
  tenantWritten.push(np('t13-ns2', 'from-monitoring', { podSelector: {}, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { role: 'monitoring' } } }] }] }));
  tenantWritten.push(np('t14-ns0', 'nodeports', { podSelector: { matchLabels: { app: 'api' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 30000, endPort: 32767 }] }] }));
  policies.push(...tenantWritten);
  return { snapshot: { namespaces, pods, policies }, tenants, membership, tenantWritten };
}

const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!; // nearest rank, as bench/lib.ts
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

const world = build();
gc();
const heapBefore = process.memoryUsage().heapUsed;

let t0 = performance.now();
const analyzer = IsolationAnalyzer.fromSnapshot(world.snapshot, world.tenants, world.membership);
const buildMs = performance.now() - t0;
t0 = performance.now();
const all = analyzer.allBreaches();
const fullPassMs = performance.now() - t0;
const breachCount = [...all.values()].reduce((n, b) => n + b.length, 0);
const breachingTenants = [...all].filter(([, b]) => b.length > 0).map(([t]) => t);

// Incremental: one policy change, then every tenant's breaches through the API (only touched tenants recompute).
const policyTimes: number[] = [];
const recomputed: number[] = [];
const pieces: number[] = [];
for (let i = 0; i < CHANGES; i++) {
  const t = Math.floor(rand() * TENANTS);
  const ns = `t${t}-ns${Math.floor(rand() * NS_PER_TENANT)}`;
  const kind = i % 3;
  const before = analyzer.stats().recomputations;
  const piecesBefore = analyzer.stats().partialRecomputations;
  const start = performance.now();
  if (kind === 0) analyzer.setPolicy(np(ns, 'web-from-api', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { app: 'api' } } }], ports: [{ protocol: 'TCP', port: 8000 + i }] }] }));
  else if (kind === 1) analyzer.setPolicy(np(ns, `bench-open-${i}`, { podSelector: { matchLabels: { app: 'db' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: { matchLabels: { role: 'monitoring' } } }], ports: [{ protocol: 'TCP', port: 5432 }] }] }));
  else analyzer.deletePolicy(ns, 'db-from-api');
  analyzer.allBreaches();
  policyTimes.push(performance.now() - start);
  recomputed.push(analyzer.stats().recomputations - before);
  pieces.push(analyzer.stats().partialRecomputations - piecesBefore);
}
// Worst case of a tenant-namespace change: a policy isolating pods of the Audit tenant (no policies before, so every class in the cluster was a candidate peer).
const auditTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  analyzer.setPolicy(np('t3-ns0', 'audit-touch', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 1 + i }] }] }));
  analyzer.allBreaches();
  auditTimes.push(performance.now() - start);
}
// Same for a policy change in a namespace every tenant consults (kube-system holds their DNS peers).
const sharedTimes: number[] = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  analyzer.setPolicy(np('kube-system', 'bench-dns', { podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } }, policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 + i }] }] }));
  analyzer.allBreaches();
  sharedTimes.push(performance.now() - start);
}
// And for pod churn: a pod moves to a new label set (a new class) in a tenant namespace.
const podTimes: number[] = [];
for (let i = 0; i < CHANGES; i++) {
  const ns = `t${Math.floor(rand() * TENANTS)}-ns0`;
  const start = performance.now();
  analyzer.setPod({ namespace: ns, name: 'web-0', labels: { app: 'web', 'pod-template-hash': `h${i + 2}` }, ips: ['10.250.0.1'], containerPorts: [{ name: 'http', containerPort: 8080 }] });
  analyzer.allBreaches();
  podTimes.push(performance.now() - start);
}
gc();
const heapAfter = process.memoryUsage().heapUsed;
const stats = analyzer.stats();

console.log(JSON.stringify({
  cluster: { namespaces: world.snapshot.namespaces.length, pods: world.snapshot.pods.length, policies: world.snapshot.policies.length, tenantWrittenPolicies: world.tenantWritten.length, tenants: TENANTS, podClasses: stats.classes },
  buildMs: round(buildMs),
  fullPassMs: round(fullPassMs),
  breaches: breachCount,
  breachingTenants,
  incrementalPolicyChange: { samples: CHANGES, p50Ms: round(percentile(policyTimes, 50), 3), p99Ms: round(percentile(policyTimes, 99), 3), maxMs: round(Math.max(...policyTimes), 3), tenantsRecomputedInFullMax: Math.max(...recomputed), peerNamespacePiecesRecomputedMax: Math.max(...pieces) },
  incrementalAuditTenantChange: { samples: auditTimes.length, p50Ms: round(percentile(auditTimes, 50), 1), maxMs: round(Math.max(...auditTimes), 1) },
  incrementalKubeSystemPolicyChange: { samples: sharedTimes.length, p50Ms: round(percentile(sharedTimes, 50), 1), maxMs: round(Math.max(...sharedTimes), 1) },
  incrementalPodChange: { samples: CHANGES, p50Ms: round(percentile(podTimes, 50), 3), p99Ms: round(percentile(podTimes, 99), 3) },
  heapUsedMB: { total: round(heapAfter / 2 ** 20, 1), analyzerAndResults: round((heapAfter - heapBefore) / 2 ** 20, 1) },
  targets: checkTargets([
    { target: 'fullPassMs', measured: round(fullPassMs), limit: 2000 },
    { target: 'incrementalPolicyChangeP99Ms', measured: round(percentile(policyTimes, 99), 3), limit: 50 },
    { target: 'incrementalPodChangeP99Ms', measured: round(percentile(podTimes, 99), 3), limit: 50 },
    { target: 'incrementalAuditTenantChangeMaxMs', measured: round(Math.max(...auditTimes), 1), limit: 50 },
    { target: 'incrementalKubeSystemPolicyChangeMaxMs', measured: round(Math.max(...sharedTimes), 1), limit: 50 },
  ]),
}, null, 2));
