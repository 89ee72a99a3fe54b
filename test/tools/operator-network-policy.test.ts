// The operator isolates itself, and our own `verify` proves it: what `kubectl kustomize config/default`
// ships for tenant-isolation-system, analysed with the operator's pod (from the Deployment's template)
// among typical neighbours, against a TenantIsolation that declares exactly the operator's traffic
// (apiserver ports, DNS, metrics from namespaces labelled metrics: enabled).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump, loadAll } from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { cli, repo } from '../harness/run.ts';
import { tempDirs } from '../harness/tmp.ts';
import { kubectlPath } from '../harness/tools.ts';

const tmp = tempDirs();
const SHIPPED_NS = 'tenant-isolation-system';
// The analysis proves a namespace through a TenantIsolation that declares its traffic, and the real
// namespace is reserved (no tenant may claim it): the same objects are analysed under another name.
const NS = 'tio-operator-under-test';
const renamed = (o: Obj): Obj => (o.metadata.namespace === SHIPPED_NS || (o.kind === 'Namespace' && o.metadata.name === SHIPPED_NS)
  ? { ...o, metadata: { ...o.metadata, ...(o.kind === 'Namespace' ? { name: NS, labels: { ...o.metadata.labels, 'kubernetes.io/metadata.name': NS } } : { namespace: NS }) } }
  : o);
type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: Record<string, unknown> };

let shipped: Obj[];
beforeAll(() => {
  const out = execFileSync(kubectlPath(), ['kustomize', join(repo, 'config/default')], { encoding: 'utf8' });
  shipped = (loadAll(out) as Obj[]).map(renamed);
}, 30 * 60_000);

/** The operator's pod as the Deployment would create it, and neighbours that want to talk to it or be talked to. */
function world(): Obj[] {
  const deployment = shipped.find((o) => o.kind === 'Deployment')!;
  const template = (deployment.spec as { template: { metadata: { labels: Record<string, string> }; spec: Record<string, unknown> } }).template;
  const pod = (ns: string, name: string, labels: Record<string, string>, ports: { name: string; containerPort: number; protocol?: string }[]): Obj => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels }, spec: { containers: [{ name: 'c', image: 'x', ports }] },
  });
  const namespace = (name: string, labels: Record<string, string> = {}): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  return [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'operator-0', namespace: NS, labels: template.metadata.labels }, spec: template.spec },
    namespace('kube-system'), pod('kube-system', 'coredns', { 'k8s-app': 'kube-dns' }, [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }, { name: 'metrics', containerPort: 9153 }]),
    namespace('monitoring', { metrics: 'enabled' }), pod('monitoring', 'prometheus', { app: 'prometheus' }, [{ name: 'web', containerPort: 9090 }]),
    namespace('apps'), pod('apps', 'web', { app: 'web' }, [{ name: 'https', containerPort: 443 }, { name: 'alt', containerPort: 8443 }, { name: 'http', containerPort: 80 }]),
    // What the operator's namespace is meant to allow, declared the way a tenant declares it.
    { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: 'operator' }, spec: {
      namespaces: [NS],
      allow: {
        ingressFrom: [{ namespaceSelector: { matchLabels: { metrics: 'enabled' } }, ports: [{ protocol: 'TCP', port: 8443 }] }],
        egressTo: [443, 6443].flatMap((port) => [
          { namespaceSelector: {}, ports: [{ protocol: 'TCP', port }] },
          { ipBlock: { cidr: '0.0.0.0/0' }, ports: [{ protocol: 'TCP', port }] },
        ]),
      },
    } },
  ];
}

/** A directory with the shipped Namespace and NetworkPolicies (optionally changed) and the world around them. */
function inputs(policies: (p: Obj[]) => Obj[] = (p) => p): string {
  const dir = tmp.make('tio-self-');
  const ours = shipped.filter((o) => o.kind === 'Namespace' || o.kind === 'NetworkPolicy');
  const kept = [...ours.filter((o) => o.kind === 'Namespace'), ...policies(ours.filter((o) => o.kind === 'NetworkPolicy'))];
  writeFileSync(join(dir, 'shipped.yaml'), kept.map((o) => dump(o)).join('---\n'));
  writeFileSync(join(dir, 'world.yaml'), world().map((o) => dump(o)).join('---\n'));
  return dir;
}
const pairs = async (dir: string, port: number, protocol = 'TCP'): Promise<string[]> => {
  const r = await cli(['verify', '-f', dir, '--pods', '--port', String(port), '--protocol', protocol, '-o', 'json']);
  return (JSON.parse(r.stdout) as { allowed: [string, string][] }).allowed.filter(([s, d]) => s.startsWith(NS) || d.startsWith(NS)).map(([s, d]) => `${s} -> ${d}`);
};

describe('config/default isolates the operator\'s own namespace', () => {
  it('ships a default deny and the operator\'s policy in tenant-isolation-system', () => {
    const names = shipped.filter((o) => o.kind === 'NetworkPolicy').map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort();
    expect(names).toEqual([`${NS}/default-deny`, `${NS}/tenant-isolation-operator`]);
  });

  it('verify finds no undeclared path into or out of the operator\'s pods', async () => {
    const r = await cli(['verify', '-f', inputs(), '-t', 'operator']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain('Breaches: none');
    expect(r.code).toBe(0);
  });

  it('only namespaces labelled metrics: enabled reach the metrics port; nobody reaches the probes', async () => {
    const dir = inputs();
    expect(await pairs(dir, 8443)).toEqual([`monitoring/prometheus -> ${NS}/operator-0`]);
    expect(await pairs(dir, 8081)).toEqual([]);
  });

  it('the operator reaches DNS and the apiserver ports only', async () => {
    const dir = inputs();
    expect(await pairs(dir, 53, 'UDP')).toEqual([`${NS}/operator-0 -> kube-system/coredns`]);
    // Any address on the apiserver's ports (its address differs per cluster): the neighbours accept 443.
    expect(await pairs(dir, 443)).toEqual([`${NS}/operator-0 -> apps/web`, `${NS}/operator-0 -> kube-system/coredns`, `${NS}/operator-0 -> monitoring/prometheus`]);
    expect(await pairs(dir, 80)).toEqual([]);
    expect(await pairs(dir, 9153)).toEqual([]);
  });

  it('without the policies, or with the metrics rule widened to every namespace, verify reports the breach and exits 1', async () => {
    const none = await cli(['verify', '-f', inputs(() => []), '-t', 'operator', '-o', 'json']);
    expect(none.code).toBe(1);
    const b = (JSON.parse(none.stdout) as { breaches: { pods: string[]; policy: string | null; direction: string }[] }).breaches;
    expect(b.some((x) => x.direction === 'ingress' && x.policy === null && x.pods.includes(`${NS}/operator-0`))).toBe(true);
    expect(b.some((x) => x.direction === 'egress' && x.policy === null)).toBe(true);

    const widened = await cli(['verify', '-f', inputs((ps) => ps.map((p) => (p.metadata.name !== 'tenant-isolation-operator' ? p : {
      ...p, spec: { ...p.spec, ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP', port: 8443 }] }] },
    }))), '-t', 'operator']);
    expect(widened.code).toBe(1);
    expect(widened.stdout).toContain(`namespace apps -> ${NS}/operator-0 on TCP/8443: ${NS}/tenant-isolation-operator admits it`);
  });
});
