// Profiles and the cluster baseline on the real control plane: a profile edit reaches exactly the tenants
// whose effective spec it changes, with exactly the writes they need; a missing or invalid profile fails
// closed; the baseline isolates unclaimed namespaces (Audit writes nothing), leaves exempt ones alone, and
// swaps to a tenant's policies and back with no state, event by event, in which the namespace is open.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { RunningOperator } from '../../src/cli/run.ts';
import { IsolationAnalyzer } from '../../src/analysis/analyzer.ts';
import type { PodInfo } from '../../src/analysis/types.ts';
import { ResilientInformer } from '../../src/kube/informer.ts';
import type { NetworkPolicy } from '../../src/policy/types.ts';
import {
  applyTenant, condition, createNamespace, createPod, deleteTenant, eventually, getNamespace, getTenant, isolatedWith, kubeconfig, kubectl, labelNamespace, policies, policyNames,
  policyWrites, rest, settled, startTestOperator, unique, MANAGED_POLICIES,
} from '../harness/cluster.ts';
import { join } from 'node:path';
import { cli, repo } from '../harness/run.ts';

const API = '/apis/isolation.tenancy.dev/v1alpha1';
const BASELINE_POLICIES = ['tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace', 'tenant-isolation-baseline-deny'];
const WITH_EXTRA = ['tenant-isolation-allow-dns', 'tenant-isolation-allow-extra', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-default-deny'];

let op: RunningOperator;
beforeAll(async () => { op = await startTestOperator({ concurrency: 4 }); });
afterAll(async () => {
  // The baseline is a cluster singleton: never leave it for the next file's operator.
  await (await rest()).delete(`${API}/isolationbaselines/cluster`).catch(() => undefined);
  await op.stop();
});

interface Status { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string }[]; [k: string]: unknown }
const applyProfile = async (name: string, spec: Record<string, unknown>): Promise<{ metadata: { generation: number } }> =>
  (await rest()).apply(`${API}/isolationprofiles/${name}`, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationProfile', metadata: { name }, spec }, 'tests', true);
const applyBaseline = async (spec: Record<string, unknown>): Promise<{ metadata: { generation: number } }> =>
  (await rest()).apply(`${API}/isolationbaselines/cluster`, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationBaseline', metadata: { name: 'cluster' }, spec }, 'tests', true);
const statusOf = async (path: string): Promise<Status | undefined> => (await (await rest()).get<{ status?: Status }>(`${API}/${path}`)).status;
const ready = (tenant: string, status: string, reason: string) => eventually(async () => {
  const c = await condition(tenant, 'Ready');
  return c?.status === status && c.reason === reason ? c : undefined;
}, `${tenant} Ready=${status} (${reason})`);
/** The operator's policy writes once nothing more happens to these namespaces and tenants (the harness's barrier). */
const settledWrites = async (what: { namespaces?: readonly string[]; tenants?: readonly string[] }): Promise<number> => { await settled(op, what); return policyWrites(op); };
const versions = async (ns: string): Promise<string[]> => (await policies(ns)).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`);
const extraPorts = async (ns: string): Promise<unknown> => (await policies(ns)).find((p) => p.metadata.name === 'tenant-isolation-allow-extra')?.spec.ingress?.map((r) => r.ports?.[0]?.port);

describe('config/samples/fleet', () => {
  it('is what a GitOps tool applies: the apiserver accepts every object of it (server-side dry run)', async () => {
    const out = await kubectl('apply', '--dry-run=server', '-k', join(repo, 'config/samples/fleet'));
    for (const o of ['isolationprofile.isolation.tenancy.dev/default', 'isolationprofile.isolation.tenancy.dev/pci', 'isolationbaseline.isolation.tenancy.dev/cluster', 'tenantisolation.isolation.tenancy.dev/payments']) expect(out).toContain(o);
  });
});

describe('IsolationProfile', () => {
  it('an edit reaches every tenant using it with exactly the needed writes, and none for tenants whose effective spec did not change', async () => {
    const [p, q] = [unique('p-std'), unique('p-other')];
    const monitoring = (port: number) => ({ name: 'monitoring', namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, ports: [{ protocol: 'TCP', port }] });
    await applyProfile(p, { allow: { ingressFrom: [monitoring(9090)] } });
    await applyProfile(q, { allow: { ingressFrom: [monitoring(9090)] } });
    const [t1, t2, t3, t4] = ['t-pa', 't-pb', 't-pexcl', 't-pq'].map(unique) as [string, string, string, string];
    const ns: Record<string, string[]> = {};
    for (const t of [t1, t2, t3, t4]) {
      const names = [unique(`${t}-a`), unique(`${t}-b`)];
      ns[t] = names;
      for (const n of names) await createNamespace(n, { tenant: t });
    }
    const sel = (t: string) => ({ namespaceSelector: { matchLabels: { tenant: t } } });
    await applyTenant(t1, { ...sel(t1), profile: p });
    await applyTenant(t2, { ...sel(t2), profile: p, allow: { ingressFrom: [{ podSelector: { matchLabels: { app: 'web' } } }] } });
    // t3 inherits from p but leaves its monitoring entry out; t4 inherits from another profile.
    await applyTenant(t3, { ...sel(t3), profile: p, allow: { exclude: ['monitoring'] } });
    await applyTenant(t4, { ...sel(t4), profile: q });
    for (const t of [t1, t2, t3, t4]) await ready(t, 'True', 'Isolated');
    for (const n of [...ns[t1]!, ...ns[t2]!, ...ns[t4]!]) await isolatedWith(n, WITH_EXTRA);
    for (const n of ns[t3]!) await isolatedWith(n, MANAGED_POLICIES);
    expect(await extraPorts(ns[t1]![0]!)).toEqual([9090]);
    expect((await (await rest()).get<{ status?: { profile?: string; mode?: string } }>(`${API}/tenantisolations/${t1}`)).status).toMatchObject({ profile: p, mode: 'Enforce' });
    // The profile's status lists the tenants using it.
    await eventually(async () => {
      const s = await statusOf(`isolationprofiles/${p}`);
      return s?.tenantCount === 3 && JSON.stringify(s.tenants) === JSON.stringify([t1, t2, t3].sort()) && s.conditions?.[0]?.reason === 'Valid';
    }, `${p} status to list ${t1}, ${t2}, ${t3}`);

    const all = { namespaces: Object.values(ns).flat(), tenants: [t1, t2, t3, t4] };
    const before = await settledWrites(all);
    const untouched = await Promise.all([...ns[t3]!, ...ns[t4]!].map(versions));
    await applyProfile(p, { allow: { ingressFrom: [monitoring(9100)] } });
    // Barrier: every namespace of t1 and t2 holds the new port.
    for (const n of [...ns[t1]!, ...ns[t2]!]) {
      await eventually(async () => JSON.stringify(await extraPorts(n)) === JSON.stringify(n.startsWith(t2) ? [9100, undefined] : [9100]) || undefined, `${n} to allow port 9100`);
    }
    // One allow-extra update per namespace of t1 and t2; nothing for t3 (excludes the entry) or t4 (another profile).
    expect(await settledWrites(all) - before).toBe(ns[t1]!.length + ns[t2]!.length);
    expect(await Promise.all([...ns[t3]!, ...ns[t4]!].map(versions))).toEqual(untouched);

    // An edit that changes no tenant's effective spec (Enforce is already the mode) costs no write.
    const edited = await applyProfile(p, { mode: 'Enforce', allow: { ingressFrom: [monitoring(9100)] } });
    await eventually(async () => (await statusOf(`isolationprofiles/${p}`))?.observedGeneration === edited.metadata.generation, `${p} status to observe generation ${edited.metadata.generation}`);
    expect(await settledWrites(all) - before).toBe(ns[t1]!.length + ns[t2]!.length);
  });

  it('a missing or invalid profile makes its tenants fail closed: default-deny kept, Ready=False naming the profile', async () => {
    const p = unique('p-late');
    const t = unique('t-late');
    const [a, b] = [unique('late-a'), unique('late-b')];
    await createNamespace(a, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, profile: p });
    // The profile does not exist (yet): its namespace gets only the fail-closed deny.
    const missing = await ready(t, 'False', 'ProfileNotFound');
    expect(missing.message).toContain(`spec.profile: IsolationProfile ${p} does not exist`);
    expect((await condition(t, 'Stalled'))?.status).toBe('True');
    await isolatedWith(a, ['tenant-isolation-default-deny']);
    expect((await policies(a))[0]!.spec.policyTypes).toEqual(['Ingress', 'Egress']);

    await applyProfile(p, { dns: { ipBlocks: [{ cidr: '169.254.20.10/32' }] } });
    await ready(t, 'True', 'Isolated');
    await isolatedWith(a, MANAGED_POLICIES);
    // Settled: the tenant has switched to naming members by label, and its intra-tenant policy with it.
    await eventually(async () => (await getTenant(t))?.status?.intraTenantPeers === 'MembershipLabel', 'peers by label');
    await eventually(async () => JSON.stringify((await policies(a)).find((x) => x.metadata.name.endsWith('intra-tenant'))?.spec).includes('member-of'), 'the intra-tenant policy by label');
    await op.manager.idle();
    const held = await versions(a);

    // Valid for the CRD, not for NetworkPolicy validation (a double hyphen): the operator refuses it.
    await applyProfile(p, { dns: { ports: [{ port: 'dns--tcp' }] } });
    const invalid = await ready(t, 'False', 'InvalidProfile');
    expect(invalid.message).toContain(`IsolationProfile ${p} is invalid: spec.dns.ports[0].port`);
    await eventually(async () => (await statusOf(`isolationprofiles/${p}`))?.conditions?.[0]?.reason === 'InvalidSpec', `${p} Ready=False InvalidSpec`);
    // What it held stays exactly as it was; a namespace joining meanwhile gets the fail-closed deny.
    await createNamespace(b, { tenant: t });
    await isolatedWith(b, ['tenant-isolation-default-deny']);
    expect(await versions(a)).toEqual(held);

    await (await rest()).delete(`${API}/isolationprofiles/${p}`);
    await ready(t, 'False', 'ProfileNotFound');
    expect(await versions(a)).toEqual(held);
    // Later files export the cluster as manifests, where a tenant failing closed is bad input.
    await deleteTenant(t);
    await eventually(async () => (await getTenant(t)) === undefined, `${t} to be gone`);
  });

  it('a tenant in Audit through its profile stays in Audit when the profile goes: nothing written, joiners included', async () => {
    const p = unique('p-audit');
    const t = unique('t-audit');
    const [a, b] = [unique('aud-a'), unique('aud-b')];
    await applyProfile(p, { mode: 'Audit' });
    await createNamespace(a, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, profile: p });
    await ready(t, 'True', 'AuditMode');
    expect((await getTenant(t))?.status?.mode).toBe('Audit');
    await (await rest()).delete(`${API}/isolationprofiles/${p}`);
    await ready(t, 'False', 'ProfileNotFound');
    await createNamespace(b, { tenant: t });
    await settled(op, { namespaces: [a, b], tenants: [t] });
    // Failing closed keeps what was in place: an observed tenant is not cut off the network.
    for (const n of [a, b]) expect(await policyNames(n), n).toEqual([]);
    await deleteTenant(t);
    await eventually(async () => (await getTenant(t)) === undefined, `${t} to be gone`);
  });
});

describe('IsolationBaseline', () => {
  // Every namespace not labelled for this run is exempt: the baseline acts on this file's namespaces only.
  const run = unique('run');
  const exempt = { namespaces: [] as string[], namespaceSelector: { matchExpressions: [{ key: 'fleet-test', operator: 'NotIn', values: [run] }] } };
  const mine = { 'fleet-test': run };
  let [loose, named, member, kubeLike] = ['', '', '', ''];
  let tenant = '';

  beforeAll(async () => {
    [loose, named, member, kubeLike] = [unique('bl-loose'), unique('bl-exempt'), unique('bl-member'), unique('kube-bl')];
    tenant = unique('t-bl');
    exempt.namespaces = [named];
    await createNamespace(loose, mine);
    await createNamespace(named, mine);
    await createNamespace(kubeLike, mine);
    await createNamespace(member, { ...mine, tenant });
    // A reserved namespace labelled for the run: still never the baseline's.
    await labelNamespace('kube-public', mine);
    await applyTenant(tenant, { namespaceSelector: { matchLabels: { tenant } } });
    await ready(tenant, 'True', 'Isolated');
    await eventually(async () => (await (await rest()).get(`/api/v1/namespaces/${loose}/serviceaccounts/default`).then(() => true)), 'the default ServiceAccount');
    await createPod(loose, 'app');
  });
  afterAll(async () => { await labelNamespace('kube-public', { 'fleet-test': null }); });

  it('is a singleton: the CRD refuses any name but cluster, and a baseline without a mode', async () => {
    const r = await rest();
    const other = await r.apply(`${API}/isolationbaselines/other`, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationBaseline', metadata: { name: 'other' }, spec: { mode: 'Audit' } }, 'tests', true).then(() => '', (e: unknown) => String(e));
    expect(other).toMatch(/422.*metadata\.name must be cluster/);
    const noMode = await applyBaseline({ exempt }).then(() => '', (e: unknown) => String(e));
    expect(noMode).toMatch(/422.*spec\.mode/);
  });

  const mineAll = () => ({ namespaces: [loose, named, member, kubeLike], tenants: [tenant] });

  it('in Audit writes nothing and reports the namespaces it would isolate and the pods no policy selects there (status, Event, verify)', async () => {
    const before = await settledWrites(mineAll());
    const b = await applyBaseline({ mode: 'Audit', exempt });
    const s = await eventually(async () => {
      const st = await statusOf('isolationbaselines/cluster');
      return st?.observedGeneration === b.metadata.generation && st.namespaceCount === 1 && JSON.stringify(st.unselectedPods) === JSON.stringify([`${loose}/app`]) ? st : undefined;
    }, 'the baseline to report what it would isolate');
    expect(s).toMatchObject({ summary: '1 would isolate (Audit)', namespaces: [loose], unselectedPodCount: 1 });
    expect(s.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'AuditMode' });
    await eventually(async () => {
      const list = await (await rest()).get<{ items: { reason: string; message: string; involvedObject: { kind: string } }[] }>('/api/v1/namespaces/default/events');
      return list.items.some((e) => e.involvedObject.kind === 'IsolationBaseline' && e.reason === 'WouldIsolate' && e.message.includes(loose)) || undefined;
    }, 'a WouldIsolate Event naming the namespace');
    const v = await cli(['verify', '--kubeconfig', kubeconfig(), '-o', 'json'], { timeoutMs: 120_000 });
    expect(v.code, v.stderr).not.toBe(2);
    expect((JSON.parse(v.stdout) as { baseline: unknown }).baseline).toEqual({ mode: 'Audit', namespaces: [loose], missing: [], unselectedPods: [`${loose}/app`] });
    expect(await settledWrites(mineAll())).toBe(before);
    for (const n of [loose, named, kubeLike]) expect(await policyNames(n)).toEqual([]);
  });

  it('in Enforce isolates the unclaimed namespace, leaves reserved, kube-* and exempt ones and tenant members alone', async () => {
    const before = await settledWrites(mineAll());
    await applyBaseline({ mode: 'Enforce', exempt });
    await isolatedWith(loose, BASELINE_POLICIES);
    const ps = await policies(loose);
    const uid = (await (await rest()).get<{ metadata: { uid: string } }>(`${API}/isolationbaselines/cluster`)).metadata.uid;
    for (const p of ps) {
      expect(p.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'tenant-isolation-operator', 'isolation.tenancy.dev/baseline': 'cluster' });
      expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationBaseline', name: 'cluster', uid, controller: true, blockOwnerDeletion: true }]);
    }
    await eventually(async () => (await statusOf('isolationbaselines/cluster'))?.conditions?.[0]?.reason === 'Isolated' || undefined, 'the baseline Ready=True Isolated');
    expect(await settledWrites(mineAll()) - before).toBe(3);
    for (const n of [named, kubeLike, 'kube-public']) expect(await policyNames(n)).toEqual([]);
    expect(await policyNames(member)).toEqual(MANAGED_POLICIES);
    // Drift by a cluster-admin is restored, and the Event says so on the IsolationBaseline.
    await (await rest()).delete(`/apis/networking.k8s.io/v1/namespaces/${loose}/networkpolicies/tenant-isolation-baseline-deny`);
    await eventually(async () => {
      const list = await (await rest()).get<{ items: { reason: string; message: string; involvedObject: { kind: string; uid: string } }[] }>('/api/v1/namespaces/default/events');
      return list.items.some((e) => e.involvedObject.kind === 'IsolationBaseline' && e.involvedObject.uid === uid && e.reason === 'PolicyRestored'
        && e.message.includes(`${loose}/tenant-isolation-baseline-deny`)) || undefined;
    }, 'a PolicyRestored Event on the IsolationBaseline');
    await isolatedWith(loose, BASELINE_POLICIES);
  });

  it('a namespace joining a tenant swaps the baseline\'s policies for the tenant\'s, and leaving swaps back, never open in between', async () => {
    // Every policy event in the namespace, in the order etcd committed them: each is a state to prove.
    const current = new Map<string, NetworkPolicy>();
    const states: NetworkPolicy[][] = [];
    const record = (): void => { states.push([...current.values()]); };
    const w = new ResilientInformer<NetworkPolicy>(await rest(), `/apis/networking.k8s.io/v1/namespaces/${loose}/networkpolicies`, {
      add: (p) => { current.set(p.metadata.name, p); record(); },
      update: (p) => { current.set(p.metadata.name, p); record(); },
      delete: (p) => { current.delete(p.metadata.name); record(); },
    }, pino({ level: 'silent' }));
    await w.start();
    await w.waitForSync();
    try {
      // Barrier: this watch itself has seen the namespace hold exactly these policies.
      const watched = (names: readonly string[]) => eventually(() => Promise.resolve(JSON.stringify([...current.keys()].sort()) === JSON.stringify(names) || undefined), `the watch to see ${names.join(', ')}`);
      await watched(BASELINE_POLICIES);
      const joinFrom = states.length;
      await labelNamespace(loose, { tenant });
      await watched(MANAGED_POLICIES);
      const joined = states.slice(joinFrom);
      await labelNamespace(loose, { tenant: null });
      await watched(BASELINE_POLICIES);
      const left = states.slice(joinFrom + joined.length);

      const labels = async (n: string) => (await getNamespace(n))?.metadata.labels ?? {};
      const pod = (namespace: string, name: string): PodInfo => ({ namespace, name, labels: { app: name }, ips: [], containerPorts: [{ containerPort: 8080 }] });
      const namespaces = [{ name: loose, labels: { ...mine } }, { name: named, labels: await labels(named) }, { name: member, labels: await labels(member) }];
      const others = [pod(named, 'outsider'), pod(member, 'peer')];
      /** Why the namespace is open in this state: a pod of it unselected, or a path to or from the exempt namespace. */
      const open = (ps: NetworkPolicy[]): string | undefined => {
        const a = IsolationAnalyzer.fromSnapshot({ namespaces, pods: [pod(loose, 'app'), ...others], policies: ps });
        if (a.podsSelectedByNoPolicy().includes(`${loose}/app`)) return 'no policy selects the pod';
        const crossing = a.allowedPairs(8080).filter(([s, d]) => [s, d].includes(`${loose}/app`) && [s, d].includes(`${named}/outsider`));
        return crossing.length > 0 ? `open to ${named}` : undefined;
      };
      expect(open([]), 'the check sees an open namespace').toBeDefined();
      for (const [i, s] of [...joined, ...left].entries()) expect(open(s), `state ${i}: ${s.map((p) => p.metadata.name).join(', ')}`).toBeUndefined();
      // Written first, deleted after: each swap passes through a state holding both denies.
      const both = (s: NetworkPolicy[]) => ['tenant-isolation-default-deny', 'tenant-isolation-baseline-deny'].every((n) => s.some((p) => p.metadata.name === n));
      expect(joined.some(both)).toBe(true);
      expect(left.some(both)).toBe(true);
      expect(joined.length).toBeGreaterThanOrEqual(6);
    } finally { await w.stop(); }
  });

  it('while its spec is invalid, a namespace joining a tenant keeps none of its allows, and one leaving keeps the tenant\'s deny', async () => {
    await applyBaseline({ mode: 'Enforce', exempt });
    await isolatedWith(loose, BASELINE_POLICIES);
    // Valid for the CRD, not for NetworkPolicy validation (a double hyphen): the operator refuses it.
    await applyBaseline({ mode: 'Enforce', exempt, dns: { ports: [{ port: 'dns--tcp' }] } });
    await eventually(async () => (await statusOf('isolationbaselines/cluster'))?.conditions?.[0]?.reason === 'InvalidSpec' || undefined, 'the baseline to report InvalidSpec');
    expect(await policyNames(loose)).toEqual(BASELINE_POLICIES); // what it wrote stays
    // Isolated by the tenant now: the baseline's allows would only add paths the tenant does not declare.
    await labelNamespace(loose, { tenant });
    await isolatedWith(loose, MANAGED_POLICIES);
    // Nobody can say whether the invalid baseline covers it: the tenant's deny stays, fail closed.
    await labelNamespace(loose, { tenant: null });
    await isolatedWith(loose, ['tenant-isolation-default-deny']);
    await settled(op, { namespaces: [loose] });
    expect(await policyNames(loose)).toEqual(['tenant-isolation-default-deny']);
    // Fixed: the baseline's policies take over.
    await applyBaseline({ mode: 'Enforce', exempt });
    await isolatedWith(loose, BASELINE_POLICIES);
  });

  it('a namespace leaving a tenant keeps the tenant\'s deny while the baseline\'s deny name is someone else\'s', async () => {
    await isolatedWith(loose, BASELINE_POLICIES);
    await labelNamespace(loose, { tenant });
    await isolatedWith(loose, MANAGED_POLICIES);
    // Made by a cluster-admin (who passes the guard), as a policy made before the gate would be.
    const squatter = await (await rest()).create<NetworkPolicy>(`/apis/networking.k8s.io/v1/namespaces/${loose}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'tenant-isolation-baseline-deny' }, spec: { podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] },
    }, 'someone');
    await labelNamespace(loose, { tenant: null });
    // The baseline's allows are written, its deny cannot be: the tenant's stays, and the squatter is untouched.
    await isolatedWith(loose, [...BASELINE_POLICIES, 'tenant-isolation-default-deny'].sort());
    // The reconcile that wrote them has ended (a clash is retried later, so the queue is idle, not settled).
    await op.manager.idle();
    expect((await policies(loose)).find((p) => p.metadata.name === 'tenant-isolation-baseline-deny')?.metadata.resourceVersion).toBe(squatter.metadata.resourceVersion);
    expect(await policyNames(loose)).toContain('tenant-isolation-default-deny');
    // Freed: the baseline's deny takes the name, then the tenant's goes.
    await (await rest()).delete(`/apis/networking.k8s.io/v1/namespaces/${loose}/networkpolicies/tenant-isolation-baseline-deny`);
    await isolatedWith(loose, BASELINE_POLICIES, 30_000);
  });

  it('Off removes its policies', async () => {
    await applyBaseline({ mode: 'Off', exempt });
    await isolatedWith(loose, []);
    await eventually(async () => (await statusOf('isolationbaselines/cluster'))?.summary === 'off' || undefined, 'the baseline to report off');
    expect(await policyNames(member)).toEqual(MANAGED_POLICIES);
  });
});
