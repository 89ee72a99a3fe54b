// The operator's isolation on real packets: kube-router enforces the policies the operator writes
// between network-namespace pods, and these tests assert what actually connects and what is refused.
// The samples' tenants and namespaces (config/samples), their pods as real listeners, a shared
// namespace, a Helm-style namespace labelled later, and a kube-dns stand-in in kube-system on 53.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOperator } from '../../src/cli/run.ts';
import { loadManifests } from '../../src/manifests/load.ts';
import {
  applyTenant, condition, createNamespace, deleteTenant, eventually, getNamespace, isolatedWith, kubeconfig, labelNamespace,
  podsAdmitted, policies, policyWritesIn, rest, settled, startTestOperator, unique, MANAGED_POLICIES,
} from '../harness/cluster.ts';
import { Dataplane, dataplaneMissing, pair, titled, type ContainerPortSpec, type PortSpec } from '../harness/dataplane.ts';
import { repo } from '../harness/run.ts';

const missing = await dataplaneMissing();

const HTTP: PortSpec = { protocol: 'TCP', port: 8080 };
const OTHER: PortSpec = { protocol: 'TCP', port: 80 };
const DNS_UDP: PortSpec = { protocol: 'UDP', port: 53 };
const DNS_TCP: PortSpec = { protocol: 'TCP', port: 53 };
const LISTEN = [HTTP, OTHER, DNS_UDP, DNS_TCP];

interface SampleObject { kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; spec?: Record<string, unknown> }
const samples = loadManifests([join(repo, 'config/samples')]).map((l) => l.object as unknown as SampleObject);
const ofKind = (kind: string): SampleObject[] => samples.filter((o) => o.kind === kind);

let dp: Dataplane;
let op: RunningOperator;
const dnsName = unique('dns');

/** Every ordered pair of distinct pods in `pods` and how each (source, destination) pair must behave. */
function expectation(pods: string[], open: (src: string, dst: string, port: string) => boolean, ports: PortSpec[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of ports) {
    const k = `${p.protocol}/${p.port}`;
    out[k] = [];
    for (const s of pods) for (const d of pods) if (s !== d && open(s, d, k)) out[k].push(pair(s, d));
  }
  return out;
}

/** Deletes a namespace and waits until it is gone; its pods first, with no grace period (no kubelet confirms them). */
async function removeNamespace(name: string): Promise<void> {
  const r = await rest();
  if (!(await getNamespace(name))) return;
  const pods = await r.get<{ items: { metadata: { name: string } }[] }>(`/api/v1/namespaces/${name}/pods`);
  for (const p of pods.items) await r.request('DELETE', `/api/v1/namespaces/${name}/pods/${p.metadata.name}`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } }).catch(() => undefined);
  await r.delete(`/api/v1/namespaces/${name}`).catch(() => undefined);
  await eventually(async () => !(await getNamespace(name)), `namespace ${name} to be deleted`, 60_000);
}

const ready = (tenant: string, reason: string) => eventually(async () => {
  const c = await condition(tenant, 'Ready');
  return c?.reason === reason ? c : undefined;
}, `${tenant} Ready reason ${reason}`);

describe.skipIf(missing)(titled('the operator on a real NetworkPolicy dataplane', missing), () => {
  beforeAll(async () => {
    // The samples use fixed namespace names: a cluster reused from an earlier run (TIO_KUBECONFIG) may still have them.
    await Promise.all(ofKind('Namespace').map((ns) => removeNamespace(ns.metadata.name)));
    dp = await Dataplane.start(kubeconfig());
    op = await startTestOperator({ concurrency: 4 });
  }, 30 * 60_000);
  afterAll(async () => {
    await op?.stop();
    for (const t of ofKind('TenantIsolation')) await deleteTenant(t.metadata.name).catch(() => undefined);
    await dp?.stop();
    await Promise.all(ofKind('Namespace').map((ns) => removeNamespace(ns.metadata.name)));
  }, 120_000);

  // Pod keys used throughout; the samples' pods keep their names and labels.
  const web = 'acme-web/web', billing = 'acme-billing/billing', app = 'globex-app/app', ingress = 'shared-services/ingress';
  const legacy = 'globex-legacy/legacy', other = 'shared-services/other', helm = 'acme-helm-release/helm';
  const dns = `kube-system/${dnsName}`, notDns = `kube-system/${dnsName}-not-dns`;

  it('the samples: intra-tenant flows, cross-tenant and shared->tenant are refused, allow opens exactly its peer and port', async () => {
    // Namespaces as the samples declare them, except the Helm-style one, which comes unlabelled first.
    for (const ns of ofKind('Namespace')) {
      const labels = ns.metadata.name === 'acme-helm-release' ? {} : ns.metadata.labels ?? {};
      await createNamespace(ns.metadata.name, labels);
    }
    for (const pod of ofKind('Pod')) {
      const containers = (pod.spec?.containers ?? []) as { ports?: ContainerPortSpec[] }[];
      await dp.addPod({ namespace: pod.metadata.namespace!, name: pod.metadata.name, labels: pod.metadata.labels ?? {}, containerPorts: containers.flatMap((c) => c.ports ?? []), listen: LISTEN });
    }
    await dp.addPod({ namespace: 'globex-legacy', name: 'legacy', labels: { app: 'legacy' }, containerPorts: [{ name: 'http', containerPort: 8080 }], listen: LISTEN });
    await dp.addPod({ namespace: 'shared-services', name: 'other', labels: { app: 'other' }, listen: LISTEN });
    await dp.addPod({ namespace: 'acme-helm-release', name: 'helm', labels: { app: 'helm' }, listen: LISTEN });
    await dp.addPod({ namespace: 'kube-system', name: dnsName, labels: { 'k8s-app': 'kube-dns' }, containerPorts: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }, { name: 'dns-tcp', containerPort: 53 }], listen: LISTEN });
    await dp.addPod({ namespace: 'kube-system', name: `${dnsName}-not-dns`, labels: { 'k8s-app': 'something-else' }, listen: LISTEN });

    // Before any tenant: everything connects (the dataplane really passes traffic).
    const all = [web, billing, app, legacy, ingress, other, helm, dns, notDns];
    await dp.sync();
    await dp.waitForMatrix(all, all, expectation(all, () => true, LISTEN));

    for (const t of ofKind('TenantIsolation')) await applyTenant(t.metadata.name, t.spec!);
    for (const ns of ['acme-web', 'acme-billing', 'globex-app', 'globex-legacy']) await isolatedWith(ns, [...MANAGED_POLICIES, 'tenant-isolation-allow-extra'].sort());

    const tenantOf: Record<string, string | undefined> = { [web]: 'acme', [billing]: 'acme', [app]: 'globex', [legacy]: 'globex' };
    const isDns = (k: string): boolean => k === dns;
    const open = (s: string, d: string, port: string): boolean => {
      const ts = tenantOf[s], td = tenantOf[d];
      // egress of a tenant pod: to its own tenant, or DNS on 53 only to the DNS pod; globex's extra egress is to 203.0.113.0/24 only
      if (ts && !(ts === td || (isDns(d) && (port === 'UDP/53' || port === 'TCP/53')))) return false;
      // ingress of a tenant pod: from its own tenant; acme also from shared-services' ingress-nginx on TCP 8080
      if (td && !(ts === td || (td === 'acme' && s === ingress && port === 'TCP/8080'))) return false;
      return true;
    };
    await dp.sync();
    const m = await dp.waitForMatrix(all, all, expectation(all, open, LISTEN));
    // Spot checks that the expectation is not vacuous: both outcomes occur, on each kind of path.
    expect(m.allowed['TCP/8080']).toContain(pair(web, billing));
    expect(m.allowed['TCP/8080']).toContain(pair(ingress, web));
    expect(m.allowed['TCP/80']).not.toContain(pair(ingress, web));
    expect(m.allowed['TCP/8080']).not.toContain(pair(other, web));
    expect(m.allowed['TCP/8080']).not.toContain(pair(web, app));
    expect(m.allowed['UDP/53']).toContain(pair(web, dns));
    expect(m.allowed['TCP/53']).toContain(pair(app, dns));
    expect(m.allowed['UDP/53']).not.toContain(pair(web, notDns));
    expect(m.allowed['TCP/8080']).not.toContain(pair(web, dns));
  });

  it('a Helm-style namespace labelled later joins its tenant on the wire', async () => {
    const pods = [web, helm, ingress, app];
    // Unlabelled: the helm pod is in no tenant; acme refuses it, shared reaches it.
    expect(await getNamespace('acme-helm-release')).toBeDefined();
    await dp.sync();
    await dp.waitForMatrix(pods, pods, expectation(pods, (s, d) => [ingress, helm].includes(s) && [ingress, helm].includes(d), [OTHER]));
    await labelNamespace('acme-helm-release', { tenant: 'acme' });
    await isolatedWith('acme-helm-release', [...MANAGED_POLICIES, 'tenant-isolation-allow-extra'].sort());
    await dp.sync();
    await dp.waitForMatrix(pods, pods, expectation(pods, (s, d) => (s === web && d === helm) || (s === helm && d === web), [OTHER]));
  });

  it('a deleted managed policy is restored and packets are refused again', async () => {
    const pods = [web, app, ingress];
    const before = await policies('acme-web');
    const uids = new Map(before.map((p) => [p.metadata.name, p.metadata.uid]));
    // With the operator stopped the deletion shows on the wire; started again, it restores the policies.
    await op.stop();
    for (const p of before) await (await rest()).delete(`/apis/networking.k8s.io/v1/namespaces/acme-web/networkpolicies/${p.metadata.name}`);
    await dp.sync();
    await dp.waitForMatrix(pods, pods, expectation(pods, (s, d) => (s === ingress && d === web) || (s === web && d === ingress), [OTHER]));
    op = await startTestOperator({ concurrency: 4 });
    const restored = await isolatedWith('acme-web', [...uids.keys()].sort());
    expect(restored).toEqual([...uids.keys()].sort());
    for (const p of await policies('acme-web')) expect(p.metadata.uid).not.toBe(uids.get(p.metadata.name));
    await dp.sync();
    await dp.waitForMatrix(pods, pods, expectation(pods, () => false, [OTHER]));
  });

  it('a namespace claimed by two tenants is closed both ways', async () => {
    const t = unique('dp-claim');
    const ns = unique('dp-conflict');
    await createNamespace(ns, { tenant: 'acme', claim: t });
    // acme claims it at once, so the pod gate admits its pod only after acme has isolated it.
    await podsAdmitted(ns);
    const pod = `${ns}/c`;
    await dp.addPod({ namespace: ns, name: 'c', labels: { app: 'c' }, listen: LISTEN });
    await applyTenant(t, { namespaceSelector: { matchLabels: { claim: t } } });
    await isolatedWith(ns, ['tenant-isolation-default-deny']);
    const pods = [pod, web, ingress, dns];
    await dp.sync();
    // The conflict pod is closed both ways; among the others on TCP/80 and UDP/53, acme's web reaches
    // only DNS on 53, and shared-services and DNS reach everything but acme.
    await dp.waitForMatrix(pods, pods, expectation(pods, (s, d, port) => {
      if (s === pod || d === pod) return false;
      if (s === web) return d === dns && port === 'UDP/53';
      return d !== web;
    }, [OTHER, DNS_UDP]));
    await deleteTenant(t);
  });

  it('an Audit tenant changes nothing on the wire', async () => {
    const t = unique('dp-audit');
    const [a, b] = [unique('dp-audit-a'), unique('dp-audit-b')];
    await createNamespace(a, { audit: t });
    await createNamespace(b, { audit: t });
    const pa = `${a}/p`, pb = `${b}/p`;
    await dp.addPod({ namespace: a, name: 'p', labels: { app: 'p' }, listen: LISTEN });
    await dp.addPod({ namespace: b, name: 'p', labels: { app: 'p' }, listen: LISTEN });
    const pods = [pa, pb, ingress, dns];
    await dp.sync();
    const before = await dp.probe(pods, pods, LISTEN);
    expect(before.odd).toEqual([]);
    expect(before.allowed['TCP/80']).toContain(pair(ingress, pa));
    const writesThere = policyWritesIn(op, [a, b]);
    await applyTenant(t, { namespaceSelector: { matchLabels: { audit: t } }, mode: 'Audit' });
    await ready(t, 'AuditMode');
    // Barrier: everything the operator will do about the tenant and its namespaces is done; then the
    // dataplane catches up with the cluster, then the wire is probed.
    await settled(op, { namespaces: [a, b], tenants: [t] });
    expect(writesThere()).toBe(0);
    expect(await policies(a)).toEqual([]);
    expect(await policies(b)).toEqual([]);
    await dp.sync();
    const after = await dp.probe(pods, pods, LISTEN);
    expect(after).toEqual(before);
    // The same tenant enforcing does change the wire (the test above would catch a dataplane that ignores policies).
    await applyTenant(t, { namespaceSelector: { matchLabels: { audit: t } }, mode: 'Enforce' });
    await isolatedWith(a, MANAGED_POLICIES);
    await dp.sync();
    const enforced = await dp.probe(pods, pods, LISTEN);
    expect(enforced.allowed['TCP/80']).not.toContain(pair(ingress, pa));
    expect(enforced.allowed['TCP/80']).toContain(pair(pa, pb));
    await deleteTenant(t);
  });
});
