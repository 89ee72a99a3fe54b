// The admission gate on the real apiserver (config/admission, installed by the global setup as
// config/default installs it): pods wait for isolation whether or not the operator runs, only the
// operator writes what isolates a tenant, membership labels are guarded, and nothing blocks cleanup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOperator } from '../../src/cli/run.ts';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  applyTenant, clientAs, condition, createNamespace, createPod, deleteTenant, eventually, events, getNamespace, getTenant, deleteTenantChecking, isolatedWith,
  kubectl, kubectlRun, labelNamespace, namespacePatcher, podAdmitted, podsAdmitted, OPERATOR_NAMESPACE, operatorKubeconfig, policies, policyNames, policyWritesIn, refusal, rest, settled,
  startTestOperator, unique, MANAGED_POLICIES,
} from '../harness/cluster.ts';
import { repo } from '../harness/run.ts';
import { RestClient } from '../../src/kube/rest.ts';
import { membershipKeys } from '../../src/admission/policies.ts';
import { loadKubeConfig } from '../../src/kube/config.ts';
import type { NetworkPolicy } from '../../src/policy/types.ts';

let op: RunningOperator | undefined;
beforeAll(async () => { op = await startTestOperator(); });
afterAll(async () => { await op?.stop(); });

const NP = (ns: string, name = ''): string => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies${name ? `/${name}` : ''}`;
const DENY = 'tenant-isolation-default-deny';

/** The ServiceAccount admission plugin refuses pods until the controller-manager made `default`. */
async function podsAllowedBySA(ns: string): Promise<void> {
  await eventually(async () => (await rest()).get(`/api/v1/namespaces/${ns}/serviceaccounts/default`).then(() => true), `default ServiceAccount in ${ns}`, 20_000);
}

async function gated(t: string): Promise<void> {
  await eventually(async () => (await condition(t, 'Gated'))?.status === 'True', `${t} Gated=True`);
}

/** Runs `fn` with the operator stopped (a crash, a failover, a long backoff), and starts it again after. */
async function operatorDown(fn: () => Promise<void>): Promise<void> {
  await op!.stop(); op = undefined;
  try { await fn(); } finally { op = await startTestOperator(); }
}

describe('the pod gate', () => {
  it('refuses a pod in a new tenant namespace until its default-deny is stored, whether or not the operator runs', async () => {
    const t = unique('t-gate');
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await gated(t);
    const [ns, elsewhere] = [unique('gate'), unique('gate-other')];
    // The gate does not depend on the operator running.
    await operatorDown(async () => {
      await createNamespace(ns, { tenant: t });
      await createNamespace(elsewhere);
      await podsAllowedBySA(ns); await podsAllowedBySA(elsewhere);
      const refused = await refusal(createPod(ns, 'early'));
      expect(refused).toMatch(/ValidatingAdmissionPolicy 'tenant-isolation-pod-gate' with binding 'tenant-isolation-pod-gate\.label\.tenant-[0-9a-f]+' denied request/);
      expect(refused).toContain(`namespace ${ns} (tenant=${t}) belongs to an enforcing TenantIsolation and is not isolated yet`);
      expect(await refusal(createPod(elsewhere, 'unrelated'))).toBeUndefined();
      // A second try while still down: still refused (nothing was stored meanwhile).
      expect(await refusal(createPod(ns, 'early'))).toBeDefined();
    });
    await isolatedWith(ns, MANAGED_POLICIES);
    await podsAdmitted(ns);
    await podAdmitted(ns, 'later');
  });

  it('a Deployment created together with its labelled namespace ends with its pods, created once the namespace is isolated', async () => {
    const t = unique('t-deploy');
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await gated(t);
    const ns = unique('deploy');
    await operatorDown(async () => {
      // What a Helm-per-tenant install does: the labelled namespace and the workload in one go.
      await createNamespace(ns, { tenant: t });
      await (await rest()).create(`/apis/apps/v1/namespaces/${ns}/deployments`, {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
        spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.invalid/web:1' }] } } },
      }, 'tests');
      // The ReplicaSet controller tries, is refused by the gate, and retries.
      await eventually(async () => {
        const list = await (await rest()).get<{ items: { reason: string; message: string }[] }>(`/api/v1/namespaces/${ns}/events`);
        return list.items.some((e) => e.reason === 'FailedCreate' && e.message.includes('tenant-isolation-pod-gate')) || undefined;
      }, 'a FailedCreate event naming the pod gate', 30_000);
      expect((await (await rest()).get<{ items: unknown[] }>(`/api/v1/namespaces/${ns}/pods`)).items).toHaveLength(0);
    });
    await isolatedWith(ns, MANAGED_POLICIES);
    const pods = await eventually(async () => {
      const list = await (await rest()).get<{ items: { metadata: { creationTimestamp: string } }[] }>(`/api/v1/namespaces/${ns}/pods`);
      return list.items.length === 2 ? list.items : undefined;
    }, 'two pods', 60_000);
    const deny = (await policies(ns)).find((p) => p.metadata.name === DENY)!;
    for (const p of pods) expect(Date.parse(p.metadata.creationTimestamp)).toBeGreaterThanOrEqual(Date.parse(deny.metadata.creationTimestamp!));
  });

  it('admits pods of an Audit tenant with a warning kubectl prints', async () => {
    const t = unique('t-audgate');
    const ns = unique('audgate');
    await createNamespace(ns, { tenant: t });
    const writesThere = policyWritesIn(op!, [ns]);
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, mode: 'Audit' });
    await eventually(async () => (await condition(t, 'Gated'))?.reason === 'AuditNotice', `${t} Gated by the audit notice`);
    await podsAllowedBySA(ns);
    const r = await kubectlRun('run', 'audited', '-n', ns, '--image=registry.invalid/app:1', '--restart=Never');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^Warning: .*tenant-isolation-audit-notice/m);
    expect(r.stderr).toContain(`namespace ${ns} (tenant=${t}) belongs to a TenantIsolation in Audit mode: nothing isolates this pod`);
    // Barrier: everything the operator will do about the tenant and its namespace (the pod included) is done.
    await settled(op!, { namespaces: [ns], tenants: [t] });
    expect(writesThere()).toBe(0);
    expect(await policyNames(ns)).toEqual([]);
  });

  it('a tenant that declares no default-deny asks for no gate: its pods start at once', async () => {
    const t = unique('t-nodeny');
    const ns = unique('nodeny');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, defaultDeny: { ingress: false, egress: false } });
    await eventually(async () => (await condition(t, 'Gated'))?.reason === 'NoDefaultDeny', 'Gated=False NoDefaultDeny');
    await podsAllowedBySA(ns);
    expect(await refusal(createPod(ns, 'free'))).toBeUndefined();
  });
});

describe('a namespace admin', () => {
  let ns: string;
  let t: string;
  let alice: RestClient;
  beforeAll(async () => {
    t = unique('t-admin');
    ns = unique('admin');
    await createNamespace(ns, { tenant: t, team: 'blue' });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(ns, MANAGED_POLICIES);
    await podsAdmitted(ns);
    // The built-in admin role in the namespace, and (as many platforms grant) the right to label it.
    alice = await clientAs(ns, 'alice');
    await kubectl('create', 'rolebinding', 'alice-admin', '-n', ns, '--clusterrole=admin', `--serviceaccount=${ns}:alice`);
    // Also its status and finalize subresources, which keep the labels they are sent.
    await kubectl('create', 'clusterrole', `label-${ns}`, '--verb=get,patch,update', '--resource=namespaces,namespaces/status,namespaces/finalize', `--resource-name=${ns}`);
    await kubectl('create', 'clusterrolebinding', `label-${ns}`, `--clusterrole=label-${ns}`, `--serviceaccount=${ns}:alice`);
    await eventually(async () => alice.get(NP(ns)).then(() => true), 'alice may read policies');
  });
  afterAll(async () => { alice.close(); await kubectl('delete', 'clusterrolebinding', `label-${ns}`); await kubectl('delete', 'clusterrole', `label-${ns}`); });

  it('cannot edit, delete or create a managed policy, nor forge the operator\'s label', async () => {
    const guard = /tenant-isolation-managed-policies.*only the operator may (update|delete|create)/;
    expect(await refusal(alice.mergePatch(NP(ns, DENY), { spec: { policyTypes: ['Ingress'] } }, 'alice'))).toMatch(guard);
    expect(await refusal(alice.delete(NP(ns, DENY)))).toMatch(guard);
    expect(await refusal(alice.create(NP(ns), { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'tenant-isolation-allow-all' }, spec: { podSelector: {}, ingress: [{}] } }, 'alice'))).toMatch(guard);
    expect(await refusal(alice.create(NP(ns), {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'looks-managed', labels: { 'app.kubernetes.io/managed-by': 'tenant-isolation-operator' } }, spec: { podSelector: {} },
    }, 'alice'))).toMatch(guard);
    expect(await policyNames(ns)).toEqual(MANAGED_POLICIES);
  });

  it('still writes, changes and deletes their own policies', async () => {
    const own = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'allow-web' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 8080 }] }] } };
    expect(await refusal(alice.create(NP(ns), own, 'alice'))).toBeUndefined();
    expect(await refusal(alice.mergePatch(NP(ns, 'allow-web'), { spec: { ingress: [{ ports: [{ port: 9090 }] }] } }, 'alice'))).toBeUndefined();
    expect(await refusal(alice.delete(NP(ns, 'allow-web')))).toBeUndefined();
  });

  it('cannot relabel the namespace into another tenant or out of its own, but may set other labels', async () => {
    const membership = /tenant-isolation-membership.*label tenant decides which namespaces a TenantIsolation claims: changing it needs update on namespacememberships\.isolation\.tenancy\.dev \(ClusterRole tenant-isolation-membership-editor\)/;
    const ns_ = `/api/v1/namespaces/${ns}`;
    expect(await refusal(alice.mergePatch(ns_, { metadata: { labels: { tenant: 'someone-else' } } }, 'alice'))).toMatch(membership);
    expect(await refusal(alice.mergePatch(ns_, { metadata: { labels: { tenant: null } } }, 'alice'))).toMatch(membership);
    expect(await refusal(alice.mergePatch(ns_, { metadata: { labels: { color: 'green' } } }, 'alice'))).toBeUndefined();
    expect((await getNamespace(ns))?.metadata.labels).toMatchObject({ tenant: t, color: 'green' });
    // The platform team, holding tenant-isolation-membership-editor, may move it.
    const bob = await clientAs(ns, 'bob');
    await kubectl('create', 'clusterrolebinding', `membership-${ns}`, '--clusterrole=tenant-isolation-membership-editor', `--serviceaccount=${ns}:bob`);
    await kubectl('create', 'clusterrolebinding', `label-bob-${ns}`, `--clusterrole=label-${ns}`, `--serviceaccount=${ns}:bob`);
    try {
      await eventually(async () => (await refusal(bob.mergePatch(ns_, { metadata: { labels: { team: 'red' } } }, 'bob'))) === undefined, 'bob may label');
      expect(await refusal(bob.mergePatch(ns_, { metadata: { labels: { tenant: t } } }, 'bob'))).toBeUndefined();
    } finally {
      bob.close();
      await kubectl('delete', 'clusterrolebinding', `membership-${ns}`, `label-bob-${ns}`);
    }
  });

  it('cannot forge the operator\'s labels or move the namespace through its status or finalize subresources', async () => {
    const ns_ = `/api/v1/namespaces/${ns}`;
    const before = (await getNamespace(ns))!.metadata.labels;
    for (const sub of ['status', 'finalize']) {
      const current = await alice.get<{ metadata: { labels?: Record<string, string> } }>(ns_);
      const withLabels = (labels: Record<string, string>) => ({ ...current, metadata: { ...current.metadata, labels: { ...current.metadata.labels, ...labels } } });
      expect(await refusal(alice.update(`${ns_}/${sub}`, withLabels({ 'isolation.tenancy.dev/member-of': 'someone-else' }), 'alice')), sub).toMatch(/tenant-isolation-member-label/);
      expect(await refusal(alice.update(`${ns_}/${sub}`, withLabels({ tenant: 'someone-else' }), 'alice')), sub).toMatch(/tenant-isolation-membership/);
      // The subresource itself is usable: a write that leaves those labels alone passes.
      expect(await refusal(alice.update(`${ns_}/${sub}`, withLabels({ [`via-${sub}`]: 'yes' }), 'alice')), sub).toBeUndefined();
    }
    expect((await getNamespace(ns))!.metadata.labels).toEqual({ ...before, 'via-status': 'yes', 'via-finalize': 'yes' });
  });

  it('creates pods in the isolated namespace as before', async () => {
    await podsAllowedBySA(ns);
    expect(await refusal(createPod(ns, 'by-alice', {}, alice))).toBeUndefined();
  });
});

describe('the operator\'s own writes on namespaces', () => {
  it('its ServiceAccount may change its labels there, and nothing else: other labels, annotations, finalizers, owners', async () => {
    const ns = unique('op-writes');
    await createNamespace(ns, { 'pod-security.kubernetes.io/enforce': 'restricted' });
    const asOperator = await RestClient.create(loadKubeConfig(operatorKubeconfig()));
    const path = `/api/v1/namespaces/${ns}`;
    const guard = /tenant-isolation-operator-namespace-writes/;
    try {
      expect(await refusal(asOperator.mergePatch(path, { metadata: { labels: { 'isolation.tenancy.dev/isolated': 'true' } } }, 'tests'))).toBeUndefined();
      expect(await refusal(asOperator.mergePatch(path, { metadata: { labels: { 'isolation.tenancy.dev/isolated': null } } }, 'tests'))).toBeUndefined();
      expect(await refusal(asOperator.mergePatch(path, { metadata: { labels: { 'pod-security.kubernetes.io/enforce': null } } }, 'tests'))).toMatch(guard);
      expect(await refusal(asOperator.mergePatch(path, { metadata: { labels: { team: 'x' } } }, 'tests'))).toMatch(guard);
      expect(await refusal(asOperator.mergePatch(path, { metadata: { annotations: { note: 'x' } } }, 'tests'))).toMatch(guard);
      expect(await refusal(asOperator.mergePatch(path, { metadata: { finalizers: ['example.com/hold'] } }, 'tests'))).toMatch(guard);
      // An owner that does not exist: the garbage collector would delete the namespace.
      expect(await refusal(asOperator.mergePatch(path, { metadata: { ownerReferences: [{ apiVersion: 'v1', kind: 'Namespace', name: 'nobody', uid: '00000000-0000-0000-0000-000000000000' }] } }, 'tests'))).toMatch(guard);
      // Anyone else who may patch the namespace is not held to it (the other guards still apply).
      const patcher = await namespacePatcher(ns);
      try { expect(await refusal(patcher.mergePatch(path, { metadata: { annotations: { note: 'x' } } }, 'tests'))).toBeUndefined(); } finally { patcher.close(); }
      expect((await getNamespace(ns))!.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    } finally { asOperator.close(); }
  });
});

describe('the membership keys (the guard\'s one param, kept by the operator)', () => {
  const CM = `/api/v1/namespaces/${OPERATOR_NAMESPACE}/configmaps/tenant-isolation-membership-keys`;
  const listed = async (): Promise<string[]> => ((await (await rest()).get<{ data?: { labelKeys?: string } }>(CM)).data?.labelKeys ?? '').split(',').filter(Boolean);
  let ns: string;
  let carol: RestClient;
  beforeAll(async () => {
    ns = unique('keys');
    await createNamespace(ns);
    // May label this namespace, and (an admin of the operator's namespace) write its ConfigMaps, but holds no membership grant.
    carol = await clientAs(ns, 'carol');
    // Also its status and finalize subresources, which keep the labels they are sent.
    await kubectl('create', 'clusterrole', `label-${ns}`, '--verb=get,patch,update', '--resource=namespaces,namespaces/status,namespaces/finalize', `--resource-name=${ns}`);
    await kubectl('create', 'clusterrolebinding', `label-${ns}`, `--clusterrole=label-${ns}`, `--serviceaccount=${ns}:carol`);
    await kubectl('create', 'rolebinding', `carol-${ns}`, '-n', OPERATOR_NAMESPACE, '--clusterrole=admin', `--serviceaccount=${ns}:carol`);
    await eventually(async () => carol.get(CM).then(() => true), 'carol may read the ConfigMap');
  });
  afterAll(async () => {
    carol.close();
    await kubectl('delete', 'clusterrolebinding', `label-${ns}`); await kubectl('delete', 'clusterrole', `label-${ns}`);
    await kubectl('delete', 'rolebinding', `carol-${ns}`, '-n', OPERATOR_NAMESPACE);
  });
  const relabel = (key: string, value: string): Promise<unknown> => carol.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { [key]: value } } }, 'carol');

  it('a tenant\'s new selector key is guarded once the operator lists it, and no longer once no tenant reads it', async () => {
    const key = `${unique('keys')}.example.com/tenant`;
    expect(await refusal(relabel(key, 'before'))).toBeUndefined();
    const t = unique('t-keys');
    await applyTenant(t, { namespaceSelector: { matchExpressions: [{ key, operator: 'In', values: [t] }] } });
    const guarded = await eventually(async () => { const c = await condition(t, 'MembershipGuarded'); return c?.status === 'True' ? c : undefined; }, 'MembershipGuarded=True');
    expect(guarded.reason).toBe('KeysGuarded');
    expect(await listed()).toContain(key);
    // Its status says so only once the operator has stored the key: from then on the apiserver refuses.
    expect(await refusal(relabel(key, t))).toMatch(new RegExp(`label ${key.replaceAll('.', '\\.')} decides which namespaces a TenantIsolation claims.*tenant-isolation-membership-editor`));
    expect(await refusal(relabel('unrelated', 'x'))).toBeUndefined();
    await deleteTenant(t);
    await eventually(async () => !(await listed()).includes(key), 'the key dropped from the ConfigMap');
    await eventually(async () => (await refusal(relabel(key, 'after'))) === undefined, 'the key free to change');
  });

  it('nobody but the operator writes the ConfigMap; a cluster-admin\'s edit or delete is repaired', async () => {
    const t = unique('t-keyguard');
    await applyTenant(t, { namespaceSelector: { matchLabels: { [`${t}.example.com/team`]: 'a' } } });
    await eventually(async () => (await listed()).includes(`${t}.example.com/team`), 'the key listed');
    const guard = /tenant-isolation-membership-keys.*only tenant-isolation-operator writes it/;
    expect(await refusal(carol.mergePatch(CM, { data: { labelKeys: '' } }, 'carol'))).toMatch(guard);
    expect(await refusal(carol.delete(CM))).toMatch(guard);
    // Past the guard (cluster-admin): put back at once.
    const keys = await listed();
    await (await rest()).mergePatch(CM, { data: { labelKeys: 'tenant' } }, 'someone');
    await eventually(async () => JSON.stringify(await listed()) === JSON.stringify(keys), 'the keys restored after an edit');
    await (await rest()).delete(CM);
    await eventually(async () => JSON.stringify(await listed()) === JSON.stringify(keys), 'the keys restored after a delete');
    // A ConfigMap of that name elsewhere is nobody's business.
    expect(await refusal((await rest()).create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'tenant-isolation-membership-keys' } }, 'tests'))).toBeUndefined();
    await deleteTenant(t);
  });

  it('an operator restarting with the ConfigMap as wanted writes nothing to it', async () => {
    // Settled first: no tenant an earlier test deleted still terminating (its key leaves the ConfigMap
    // once it is gone), and the ConfigMap listing exactly the stored tenants' keys.
    const wanted = async (): Promise<string[] | undefined> => {
      const items = (await (await rest()).get<{ items: { metadata: { deletionTimestamp?: string }; spec?: unknown }[] }>('/apis/isolation.tenancy.dev/v1alpha1/tenantisolations')).items;
      return items.some((t) => t.metadata.deletionTimestamp) ? undefined : membershipKeys(items);
    };
    await eventually(async () => { const w = await wanted(); return (w !== undefined && JSON.stringify(await listed()) === JSON.stringify(w)) || undefined; }, 'no tenant terminating and the ConfigMap listing exactly the stored tenants\' keys');
    await op!.manager.idle();
    await op!.stop(); op = undefined;
    op = await startTestOperator();
    await op.leading;
    await op.manager.idle();
    const m = await op.metrics.apiWrites.get();
    expect(m.values.filter((v) => v.labels.resource === 'configmaps').reduce((a, v) => a + v.value, 0)).toBe(0);
  });
});

describe('what the operator treats as its own', () => {
  it('a policy that takes a reserved name is never overwritten or deleted: the clash is reported and pods wait', async () => {
    const t = unique('t-clash');
    const ns = unique('clash');
    await createNamespace(ns);
    // Made by a cluster-admin (who passes the guard), as a user's policy made before the gate would be.
    const squatter = await (await rest()).create<{ metadata: { resourceVersion: string } }>(NP(ns), { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: DENY }, spec: { podSelector: {}, ingress: [{}] } }, 'someone');
    await labelNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    const entry = await eventually(async () => (await getTenant(t))?.status?.namespaces?.find((n) => n.name === ns && n.message?.includes('not the operator\'s')), 'the clash in status');
    expect(entry.state).toBe('Pending');
    expect((await condition(t, 'Ready'))?.status).toBe('False');
    await eventually(async () => (await events(t)).some((e) => e.reason === 'PolicyNameClash' && e.message.includes(DENY)), 'a PolicyNameClash event');
    await gated(t);
    await podsAllowedBySA(ns);
    expect(await refusal(createPod(ns, 'waits'))).toMatch(/is not isolated yet: pods wait/);
    // The operator wrote the policies it could, and left the squatter exactly as it was.
    const stored = (await policies(ns)).find((p) => p.metadata.name === DENY)!;
    expect(stored.metadata.resourceVersion).toBe(squatter.metadata.resourceVersion);
    expect(await policyNames(ns)).toEqual(MANAGED_POLICIES);
    // Once its owner removes it, the tenant's own default-deny takes the name.
    await (await rest()).delete(NP(ns, DENY));
    await eventually(async () => (await policies(ns)).find((p) => p.metadata.name === DENY)?.metadata.ownerReferences?.[0]?.name === t, 'the operator\'s default-deny');
    await podsAdmitted(ns);
    await podAdmitted(ns, 'now');
  });

  it('an isolated namespace whose tenant comes to want a name someone else holds stops admitting pods until it is freed', async () => {
    const t = unique('t-clash2');
    const ns = unique('clash2');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(ns, MANAGED_POLICIES);
    await podsAdmitted(ns);
    // Made by a cluster-admin (who passes the guard): the name the tenant's next spec needs.
    const extra = 'tenant-isolation-allow-extra';
    await (await rest()).create(NP(ns), { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: extra }, spec: { podSelector: {}, ingress: [{}] } }, 'someone');
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { x: 'y' } }, ports: [{ port: 8080 }] }] } });
    await eventually(async () => (await getNamespace(ns))?.metadata.labels?.['isolation.tenancy.dev/isolated'] === undefined || undefined, `${ns} no longer labelled isolated`);
    await eventually(async () => (await getTenant(t))?.status?.namespaces?.find((n) => n.name === ns && n.state === 'Pending' && n.message?.includes(extra)), 'the clash in status');
    await podsAllowedBySA(ns);
    await eventually(async () => /is not isolated yet: pods wait/.test((await refusal(createPod(ns, `waits-${randomBytes(2).toString('hex')}`))) ?? '') || undefined, 'a pod refused');
    // Freed: the tenant's own policy takes the name, and pods start again.
    await (await rest()).delete(NP(ns, extra));
    await isolatedWith(ns, [...MANAGED_POLICIES, extra].sort());
    await podsAdmitted(ns);
    await podAdmitted(ns, 'after');
  });

  it('a user\'s policy that carries the operator\'s label but is not its own is left alone', async () => {
    const t = unique('t-forged');
    const ns = unique('forged');
    await createNamespace(ns, { tenant: t });
    const forged = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'team-policy', labels: { 'app.kubernetes.io/managed-by': 'tenant-isolation-operator', 'isolation.tenancy.dev/tenant': t } }, spec: { podSelector: {} } };
    const created = await (await rest()).create<NetworkPolicy>(NP(ns), forged, 'someone');
    const untouched = async (): Promise<void> => {
      const p = await (await rest()).get<NetworkPolicy>(NP(ns, 'team-policy'));
      expect(p.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
      expect(p.metadata.ownerReferences).toBeUndefined();
    };
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await eventually(async () => (await condition(t, 'Ready'))?.status === 'True', 'Ready');
    await settled(op!, { namespaces: [ns], tenants: [t] });
    expect(await policyNames(ns)).toEqual([...MANAGED_POLICIES, 'team-policy'].sort());
    await untouched();
    // Deleting the tenant removes its policies and releases its finalizer; the forged one stays.
    await deleteTenant(t);
    await eventually(async () => (await getTenant(t)) === undefined, 'the tenant gone');
    await settled(op!, { namespaces: [ns] });
    expect(await policyNames(ns)).toEqual(['team-policy']);
    await untouched();
  });
});

describe('membership that cannot be hijacked', () => {
  it('the CRD refuses reserved namespaces and selectors that name no namespace, with a message', async () => {
    const r1 = await refusal(applyTenant(unique('t-res'), { namespaces: ['kube-system'] }));
    expect(r1).toContain('must not name a reserved namespace');
    const r2 = await refusal(applyTenant(unique('t-all'), { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'Exists' }] } }));
    expect(r2).toContain('must name the namespaces it selects');
    const r3 = await refusal(applyTenant(unique('t-neg'), { namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'NotIn', values: ['x'] }] } }));
    expect(r3).toContain('must name the namespaces it selects');
  });

  it('a selector that matches a reserved namespace never makes it a member: it is listed as Excluded', async () => {
    const t = unique('t-excl');
    const ns = unique('excl');
    await createNamespace(ns);
    await applyTenant(t, { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-system', ns] }] } });
    await isolatedWith(ns, MANAGED_POLICIES);
    const status = await eventually(async () => { const s = (await getTenant(t))?.status; return s?.namespaces?.some((n) => n.state === 'Excluded') ? s : undefined; }, 'Excluded in status');
    expect(status.namespaces?.find((n) => n.name === 'kube-system')).toMatchObject({ state: 'Excluded' });
    expect(await policyNames('kube-system')).not.toContain(DENY);
    await eventually(async () => (await events(t)).some((e) => e.reason === 'ReservedNamespaceExcluded'), 'a ReservedNamespaceExcluded event');
    // Its pod-gate binding does not reach kube-system either.
    await podsAllowedBySA('kube-system');
    const p = unique('sys');
    expect(await refusal(createPod('kube-system', p))).toBeUndefined();
    await (await rest()).delete(`/api/v1/namespaces/kube-system/pods/${p}`);
  });

  it('a tenant whose spec turns invalid keeps its namespaces closed: old ones as they were, new ones get a default-deny', async () => {
    const t = unique('t-badspec');
    const old = unique('bad-old');
    await createNamespace(old, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(old, MANAGED_POLICIES);
    // Settled: the member labelled, the tenant switched to naming members by label, nothing left to write.
    await eventually(async () => (await getTenant(t))?.status?.intraTenantPeers === 'MembershipLabel', 'peers by label');
    await eventually(async () => JSON.stringify((await policies(old)).find((p) => p.metadata.name.endsWith('intra-tenant'))?.spec).includes('member-of'), 'the intra-tenant policy by label');
    await op!.manager.idle();
    const before = (await policies(old)).map((p) => p.metadata.resourceVersion);
    // Passes the CRD, refused by the operator (a port name with a double hyphen).
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, allow: { ingressFrom: [{ podSelector: {}, ports: [{ port: 'web--http' }] }] } });
    await eventually(async () => (await condition(t, 'Ready'))?.reason === 'InvalidSpec', 'InvalidSpec');
    const joiner = unique('bad-new');
    await createNamespace(joiner, { tenant: t });
    await isolatedWith(joiner, [DENY]);
    const deny = (await policies(joiner))[0]!;
    expect(deny.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(deny.spec.ingress ?? []).toEqual([]);
    expect(deny.metadata.ownerReferences?.[0]?.name).toBe(t);
    expect((await policies(old)).map((p) => p.metadata.resourceVersion)).toEqual(before);
    // Pods wait there as anywhere in the tenant, and start once the deny is stored.
    await podsAdmitted(joiner);
    await podsAllowedBySA(joiner);
    await podAdmitted(joiner, 'p');
    // Fixed: the new namespace gets the tenant's full set.
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(joiner, MANAGED_POLICIES);
  });
});

describe('deletion', () => {
  it('deleting a tenant removes its policies and bindings; deleting a namespace is not blocked', async () => {
    const t = unique('t-del');
    const [a, b] = [unique('del-a'), unique('del-b')];
    await createNamespace(a, { tenant: t });
    await createNamespace(b, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(a, MANAGED_POLICIES);
    await gated(t);
    await (await rest()).delete(`/api/v1/namespaces/${b}`);
    await eventually(async () => (await getNamespace(b)) === undefined, `namespace ${b} gone`, 60_000);
    // Gone before the operator released its finalizer: removed by it, not by the garbage collector.
    await deleteTenantChecking(t, async () => { expect(await policyNames(a)).toEqual([]); });
    expect(await policyNames(a)).toEqual([]);
    expect((await getNamespace(a))?.metadata.labels?.['isolation.tenancy.dev/isolated']).toBeUndefined();
    // No longer a tenant's: pods start without waiting (once the apiserver drops the binding, within a second).
    await podsAllowedBySA(a);
    await eventually(async () => (await refusal(createPod(a, 'free'))) === undefined, 'a pod admitted');
  });

  it('a terminating tenant namespace keeps its policies while a pod remains (ordered namespace deletion)', async () => {
    const t = unique('t-term');
    const ns = unique('term');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(ns, MANAGED_POLICIES);
    await podsAdmitted(ns);
    await podsAllowedBySA(ns);
    await createPod(ns, 'held', { finalizers: ['tests.isolation.tenancy.dev/hold'] });
    await (await rest()).delete(`/api/v1/namespaces/${ns}`);
    // Barrier: the namespace controller has made a deletion pass (it reports its conditions) and has marked
    // the pod for deletion; with OrderedNamespaceDeletion (GA in 1.34) it deletes nothing else until the pod is gone.
    await eventually(async () => {
      const n = await (await rest()).get<{ status?: { conditions?: unknown[] } }>(`/api/v1/namespaces/${ns}`);
      const pod = await (await rest()).get<{ metadata: { deletionTimestamp?: string } }>(`/api/v1/namespaces/${ns}/pods/held`);
      return (n.status?.conditions?.length ?? 0) > 0 && pod.metadata.deletionTimestamp !== undefined;
    }, 'a deletion pass of the namespace controller', 45_000);
    expect(await policyNames(ns)).toEqual(MANAGED_POLICIES);
    await (await rest()).mergePatch(`/api/v1/namespaces/${ns}/pods/held`, { metadata: { finalizers: null } }, 'tests');
    await eventually(async () => (await getNamespace(ns)) === undefined, `namespace ${ns} gone`, 60_000);
  });
});

describe('uninstall', () => {
  it('removing the gate never leaves a namespace unable to start pods, even with bindings and no operator left', async () => {
    const t = unique('t-uninst');
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await gated(t);
    const ns = unique('uninst');
    let keeper = '';
    await operatorDown(async () => {
      await createNamespace(ns, { tenant: t });
      await podsAllowedBySA(ns);
      expect(await refusal(createPod(ns, 'refused'))).toBeDefined();
      // Another ConfigMap-param binding stays throughout: with none left, this kube-apiserver would stop its
      // ConfigMap param informer for good (kubernetes#130887) and the membership guard, installed again
      // below, would read a stale param in every later test file of this control plane.
      keeper = unique('tests-keeper');
      const VAP = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies';
      await (await rest()).create(VAP, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: keeper },
        spec: { paramKind: { apiVersion: 'v1', kind: 'ConfigMap' }, matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces'] }] }, validations: [{ expression: 'true' }] } }, 'tests');
      await (await rest()).create(`${VAP.replace('policies', 'policybindings')}`, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: keeper },
        spec: { policyName: keeper, validationActions: ['Deny'], paramRef: { name: keeper, namespace: 'default', parameterNotFoundAction: 'Allow' }, matchResources: { objectSelector: { matchLabels: { [keeper]: 'never' } } } } }, 'tests');
      // Uninstall as documented: the admission policies go with config/default (here config/admission).
      await kubectl('delete', '-k', join(repo, 'config/admission'));
      try {
        await eventually(async () => (await refusal(createPod(ns, 'after'))) === undefined, 'pods admitted once the policies are gone', 20_000);
      } finally {
        await kubectl('apply', '--server-side', '-k', join(repo, 'config/admission'));
      }
    });
    // Barrier: the operator (back) has listed the keys again and the reinstalled membership guard is in
    // force (the apiserver reloads bindings once a second), before the keeper goes.
    const probe = unique('uninst-probe');
    await createNamespace(probe);
    const patcher = await namespacePatcher(probe);
    try {
      await eventually(async () => /tenant-isolation-membership/.test(await refusal(patcher.mergePatch(`/api/v1/namespaces/${probe}`, { metadata: { labels: { tenant: unique('x') } } }, 'tests')) ?? ''), 'the membership guard in force again');
    } finally { patcher.close(); }
    await kubectl('delete', 'validatingadmissionpolicybinding', keeper);
    await kubectl('delete', 'validatingadmissionpolicy', keeper);
  });
});
