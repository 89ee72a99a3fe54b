// The operator's behaviour against the real control plane, positive and negative cases.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOperator } from '../../src/cli/run.ts';
import { matchesSelector } from '../../src/policy/selector.ts';
import type { NetworkPolicy, NetworkPolicyPeer } from '../../src/policy/types.ts';
import { FINALIZER } from '../../src/api/schema.ts';
import {
  applyTenant, condition, createNamespace, eventually, events, getNamespace, getTenant, labelNamespace,
  deleteTenantChecking, kubectl, policies, policyNames, policyWrites, policyWritesIn, rest, settled, startTestOperator, unique, writes,
  MANAGED_POLICIES, isolatedWith,
  withoutMemberLabelGuard,
} from '../harness/cluster.ts';

const ALL = MANAGED_POLICIES;
const NP = (ns: string, name = ''): string => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies${name ? `/${name}` : ''}`;

let op: RunningOperator;
// These tests describe tenants that name their members by namespace name: the member-label guard is taken
// away for this file (test/integration/membership-label.test.ts covers naming them by label).
let restoreGuard: () => Promise<void>;
beforeAll(async () => { restoreGuard = await withoutMemberLabelGuard(); op = await startTestOperator({ concurrency: 4 }); });
afterAll(async () => { await op.stop(); await restoreGuard(); });

const isolated = (ns: string, names = ALL) => isolatedWith(ns, names);

const ready = (tenant: string, status = 'True', reason?: string) => eventually(async () => {
  const c = await condition(tenant, 'Ready');
  return c?.status === status && (reason === undefined || c.reason === reason) ? c : undefined;
}, `${tenant} Ready=${status}${reason ? ` (${reason})` : ''}`);

/** Namespaces (among those given) whose live labels a policy's peers admit. */
async function admittedNamespaces(p: NetworkPolicy, candidates: string[]): Promise<string[]> {
  const peers: NetworkPolicyPeer[] = [...(p.spec.ingress ?? []).flatMap((r) => r.from ?? []), ...(p.spec.egress ?? []).flatMap((r) => r.to ?? [])];
  const out: string[] = [];
  for (const ns of candidates) {
    const labels = (await getNamespace(ns))?.metadata.labels ?? {};
    if (peers.some((peer) => peer.namespaceSelector && matchesSelector(labels, peer.namespaceSelector))) out.push(ns);
  }
  return out.sort();
}

describe('a tenant declared with only a selector', () => {
  it('isolates every labelled namespace with deny, DNS and intra-tenant policies, owned and labelled', async () => {
    const t = unique('t-basic');
    const [a, b] = [unique('basic-a'), unique('basic-b')];
    await createNamespace(a, { tenant: t });
    await createNamespace(b, { tenant: t });
    const ti = await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(a); await isolated(b);
    const ps = await policies(a);
    for (const p of ps) {
      expect(p.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'tenant-isolation-operator', 'isolation.tenancy.dev/tenant': t });
      expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: t, uid: ti.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    }
    const deny = ps.find((p) => p.metadata.name === 'tenant-isolation-default-deny')!;
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const dns = ps.find((p) => p.metadata.name === 'tenant-isolation-allow-dns')!;
    expect(dns.spec.egress?.[0]?.ports).toEqual([{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]);
    expect(dns.spec.egress?.[0]?.to?.[0]?.namespaceSelector).toEqual({ matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } });
    const intra = ps.find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')!;
    await eventually(async () => {
      const cur = (await policies(a)).find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')!;
      return JSON.stringify(cur.spec.ingress?.[0]?.from?.[0]?.namespaceSelector?.matchExpressions?.[0]?.values) === JSON.stringify([a, b].sort());
    }, 'intra-tenant peers to list both members');
    expect(intra.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    const r = await ready(t, 'True', 'Isolated');
    expect(r.observedGeneration).toBe(1);
    const st = (await getTenant(t))!.status!;
    expect(st.observedGeneration).toBe(1);
    expect(st.namespaces?.map((n) => [n.name, n.state])).toEqual([[a, 'Isolated'], [b, 'Isolated']].sort());
    expect(st.summary).toBe('2/2 isolated');
    // Stored, not pruned: the CRD's schema holds the counts.
    expect(st.namespaceCounts).toEqual({ isolated: 2, pending: 0, conflict: 0, terminating: 0, wouldIsolate: 0, excluded: 0 });
    expect(await kubectl('get', 'tenantisolation', t, '--no-headers')).toMatch(new RegExp(`^${t}\\s+True\\s+Isolated\\s+2/2 isolated\\s+Enforce`));
    for (const type of ['Reconciling', 'Stalled']) expect((await condition(t, type))?.status).toBe('False');
    // Batched per tenant: one Event names every namespace isolated within half a second.
    await eventually(async () => (await events(t)).some((e) => e.reason === 'NamespaceIsolated' && e.message.includes(a) && e.message.includes(b)), 'one NamespaceIsolated event naming both');
    // Recorded in the operator's namespace (the only one its Role grants), and still what describe shows.
    expect(await kubectl('describe', 'tenantisolation', t)).toMatch(/Normal\s+NamespaceIsolated\s/);
  });

  it('isolates a namespace a Helm-style install creates and labels later, and leaves unlabelled ones alone', async () => {
    const t = unique('t-helm');
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await ready(t);
    const helm = unique('helm');
    const outsider = unique('outsider');
    const outsiderWrites = policyWritesIn(op, [outsider]);
    await createNamespace(outsider, { team: t });
    await createNamespace(helm);
    await labelNamespace(helm, { tenant: t, 'app.kubernetes.io/managed-by': 'Helm' });
    await isolated(helm);
    await ready(t, 'True');
    // Barrier: the operator has seen both namespaces and done all it will about them.
    await settled(op, { namespaces: [helm, outsider], tenants: [t] });
    expect(await policyNames(outsider)).toEqual([]);
    expect(outsiderWrites()).toBe(0);
  });
});

describe('forged membership', () => {
  it('gives a namespace that copies tenant-looking labels no path into the tenant', async () => {
    const t = unique('t-forge');
    const member = unique('forge-member');
    const evil = unique('forge-evil');
    await createNamespace(member, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(member);
    // The attacker copies the operator's own labels and a look-alike name label onto a namespace that
    // the tenant's selector does not match.
    await createNamespace(evil, { 'isolation.tenancy.dev/tenant': t, 'app.kubernetes.io/managed-by': 'tenant-isolation-operator', name: member, 'tenant-name': t });
    await settled(op, { namespaces: [member, evil], tenants: [t] }); // the operator saw evil and did all it will do
    const intra = (await policies(member)).find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')!;
    expect(await admittedNamespaces(intra, [member, evil])).toEqual([member]);
    expect(await policyNames(evil)).toEqual([]);
    const st = (await getTenant(t))!.status!;
    expect(st.namespaces?.map((n) => n.name)).toEqual([member]);
  });

  it('a namespace that another tenant owns and that adds this tenant\'s label becomes a conflict, never a member', async () => {
    const [t1, t2] = [unique('t-fa'), unique('t-fb')];
    const m1 = unique('fa-member');
    const victim = unique('fb-owned');
    await createNamespace(m1, { tenant: t1 });
    await createNamespace(victim);
    await applyTenant(t1, { namespaceSelector: { matchLabels: { tenant: t1 } } });
    await applyTenant(t2, { namespaces: [victim] });
    await isolated(m1); await isolated(victim);
    await labelNamespace(victim, { tenant: t1 }); // now claimed by both
    await isolated(victim, ['tenant-isolation-default-deny']);
    await eventually(async () => {
      const cur = (await policies(m1)).find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')!;
      return (await admittedNamespaces(cur, [m1, victim])).join() === m1;
    }, 'the conflicted namespace to be excluded from intra-tenant peers');
    expect(await policyNames(victim)).toEqual(['tenant-isolation-default-deny']); // never a member of either
  });
});

/** Widens the namespace's deny into an allow-all (a merge patch by another field manager); returns what that stored. */
const widenDeny = async <T = NetworkPolicy>(ns: string): Promise<T> =>
  (await rest()).mergePatch<T>(NP(ns, 'tenant-isolation-default-deny'), { spec: { ingress: [{}], policyTypes: ['Ingress'] } }, 'tamperer');

/** Waits until the namespace's deny is a deny again (within `ms`). */
const denyRestored = (ns: string, ms?: number): Promise<unknown> => eventually(async () => {
  const deny = (await policies(ns)).find((p) => p.metadata.name === 'tenant-isolation-default-deny')!;
  return deny.spec.ingress === undefined && JSON.stringify(deny.spec.policyTypes) === '["Ingress","Egress"]';
}, 'the edited deny to be restored', ms);

describe('drift', () => {
  it('restores a deleted or edited managed policy within a second and never touches user policies', async () => {
    const t = unique('t-drift');
    const ns = unique('drift');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(ns);
    const r = await rest();
    const userPolicy = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'team-allow-web', namespace: ns }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 8080 }] }], policyTypes: ['Ingress'] } };
    const created = await r.create<NetworkPolicy>(NP(ns), userPolicy, 'user');
    const driftBefore = (await op.metrics.driftCorrections.get()).values[0]?.value ?? 0;

    let t0 = performance.now();
    await r.delete(NP(ns, 'tenant-isolation-default-deny'));
    await eventually(async () => (await policyNames(ns)).includes('tenant-isolation-default-deny'), 'deny to be recreated', 1_000);
    const recreateMs = performance.now() - t0;

    t0 = performance.now();
    // Widen our deny into an allow-all with a plain merge patch (another field manager).
    await widenDeny(ns);
    await denyRestored(ns, 1_000);
    const restoreMs = performance.now() - t0;

    // Removing our label does not make it someone else's policy either.
    await r.mergePatch(NP(ns, 'tenant-isolation-allow-dns'), { metadata: { labels: { 'app.kubernetes.io/managed-by': null } } }, 'tamperer');
    await eventually(async () => (await policies(ns)).find((p) => p.metadata.name === 'tenant-isolation-allow-dns')?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'tenant-isolation-operator', 'the label to be restored', 1_000);

    expect(recreateMs).toBeLessThan(1_000);
    expect(restoreMs).toBeLessThan(1_000);
    // Counted once the write's response is back, which the GET that saw the restored policy can beat.
    await eventually(async () => (await op.metrics.driftCorrections.get()).values[0]!.value >= driftBefore + 3 || undefined, 'three drift corrections counted', 1_000);
    const user = (await policies(ns)).find((p) => p.metadata.name === 'team-allow-web')!;
    expect(user.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(user.metadata.labels).toBeUndefined();
    await eventually(async () => (await events(t)).some((e) => e.reason === 'PolicyRestored'), 'a PolicyRestored event');
  });
});

describe('a managed policy is replaced whole', () => {
  it('an edit by another field manager is undone by one write, and the policy keeps one managedFields entry, the operator\'s', async () => {
    const t = unique('t-replace');
    const ns = unique('replace');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(ns);
    const r = await rest();
    type Stored = NetworkPolicy & { metadata: { generation: number } };
    const managers = (p: Stored): string[] => ((p.metadata as { managedFields?: { manager: string; operation: string }[] }).managedFields ?? []).map((m) => `${m.manager}/${m.operation}`);
    // Another manager widens our deny: it now owns spec.ingress and spec.policyTypes.
    const tampered = await widenDeny<Stored>(ns);
    expect(managers(tampered).sort()).toEqual(['tamperer/Update', 'tenant-isolation-operator/Update']);
    await denyRestored(ns);
    await op.manager.idle();
    const restored = await r.get<Stored>(NP(ns, 'tenant-isolation-default-deny'));
    // One spec change after the tamperer's: a merge (server-side apply) would have kept the tamperer's
    // ingress rule and needed a second write to drop it.
    expect(restored.metadata.generation).toBe(tampered.metadata.generation + 1);
    // The tamperer owns nothing any more, and the operator holds one entry (no second manager set for the
    // apiserver to merge on every later write).
    expect(managers(restored)).toEqual(['tenant-isolation-operator/Update']);
  });
});

describe('membership changes', () => {
  it('a namespace that leaves loses the managed policies, one that joins gets them, and the others follow', async () => {
    const t = unique('t-move');
    const [a, b, c] = [unique('move-a'), unique('move-b'), unique('move-c')];
    await createNamespace(a, { tenant: t });
    await createNamespace(b, { tenant: t });
    await createNamespace(c);
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(a); await isolated(b);
    const peersOf = async (ns: string) => (await policies(ns)).find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')?.spec.ingress?.[0]?.from?.[0]?.namespaceSelector?.matchExpressions?.[0]?.values;

    await labelNamespace(c, { tenant: t });
    await isolated(c);
    await eventually(async () => JSON.stringify(await peersOf(a)) === JSON.stringify([a, b, c].sort()), 'a to list c as a peer');

    await labelNamespace(b, { tenant: null });
    await eventually(async () => (await policyNames(b)).length === 0, 'b to lose its policies');
    await eventually(async () => JSON.stringify(await peersOf(a)) === JSON.stringify([a, c].sort()) && JSON.stringify(await peersOf(c)) === JSON.stringify([a, c].sort()), 'a and c to drop b');
    await eventually(async () => (await events(t)).some((e) => e.reason === 'PoliciesRemoved' && e.message.includes(b)), 'a PoliciesRemoved event naming b');
    await eventually(async () => JSON.stringify((await getTenant(t))?.status?.namespaces?.map((n) => n.name)) === JSON.stringify([a, c].sort()), 'status to list a and c');
  });
});

describe('a namespace moved from one tenant to another', () => {
  it('ends with the new tenant\'s policies, each with one controller reference, the new tenant\'s', async () => {
    const [t1, t2] = [unique('t-from'), unique('t-to')];
    const ns = unique('moved');
    await createNamespace(ns, { tenant: t1 });
    await applyTenant(t1, { namespaceSelector: { matchLabels: { tenant: t1 } } });
    const to = await applyTenant(t2, { namespaceSelector: { matchLabels: { tenant: t2 } }, intraTenant: { enabled: false } });
    await isolated(ns);
    await labelNamespace(ns, { tenant: t2 });
    // The policies were created by t1's reconcile; t2's apply must not leave t1's controller reference.
    await isolatedWith(ns, ['tenant-isolation-allow-dns', 'tenant-isolation-default-deny']);
    await eventually(async () => (await policies(ns)).every((p) => p.metadata.labels?.['isolation.tenancy.dev/tenant'] === t2), 'the policies to be labelled for the new tenant');
    for (const p of await policies(ns)) {
      expect(p.metadata.ownerReferences?.map((o) => `${o.name}/${o.uid}/${o.controller}`)).toEqual([`${t2}/${to.metadata.uid}/true`]);
    }
  });
});

describe('conflicts', () => {
  it('a namespace claimed by two tenants fails closed, both report it, and it heals when one claim goes away', async () => {
    const [t1, t2] = [unique('t-ca'), unique('t-cb')];
    const shared = unique('conflict');
    const own1 = unique('conflict-own');
    await createNamespace(shared, { tenant: t1 });
    await createNamespace(own1, { tenant: t1 });
    await applyTenant(t1, { namespaceSelector: { matchLabels: { tenant: t1 } } });
    await isolated(shared);
    await applyTenant(t2, { namespaces: [shared] });

    await isolated(shared, ['tenant-isolation-default-deny']);
    const deny = (await policies(shared))[0]!;
    expect(deny.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(deny.metadata.annotations?.['isolation.tenancy.dev/conflicting-tenants']).toBe([t1, t2].sort().join(','));
    const r1 = await ready(t1, 'False', 'NamespaceConflict');
    const r2 = await ready(t2, 'False', 'NamespaceConflict');
    expect(r1.message).toContain(t2);
    expect(r2.message).toContain(t1);
    const st2 = (await getTenant(t2))!.status!.namespaces!;
    expect(st2).toEqual([{ name: shared, state: 'Conflict', message: expect.stringContaining(t1) as string }]);
    await eventually(async () => (await events(t2)).some((e) => e.reason === 'NamespaceConflict' && e.message.includes(t1)), 'a NamespaceConflict event naming the other tenant');

    await applyTenant(t2, { namespaces: [unique('elsewhere')] });
    await isolated(shared);
    await ready(t1, 'True', 'Isolated');
  });
});

describe('deleting a TenantIsolation', () => {
  it('removes its policies before the object goes away (finalizer), leaving other tenants alone', async () => {
    const [t, keep] = [unique('t-del'), unique('t-keep')];
    const [ns, other] = [unique('del'), unique('keep')];
    await createNamespace(ns, { tenant: t });
    await createNamespace(other, { tenant: keep });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await applyTenant(keep, { namespaceSelector: { matchLabels: { tenant: keep } } });
    await isolated(ns); await isolated(other);
    expect((await getTenant(t))?.metadata.finalizers).toContain(FINALIZER);
    await settled(op, { namespaces: [other], tenants: [keep] });
    const otherBefore = (await policies(other)).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`);
    // Gone before the operator released its finalizer: removed by it, not by the garbage collector.
    await deleteTenantChecking(t, async () => { expect(await policyNames(ns)).toEqual([]); });
    await settled(op, { namespaces: [ns, other], tenants: [keep] });
    expect(await policyNames(ns)).toEqual([]);
    expect((await policies(other)).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion}`)).toEqual(otherBefore);
  });
});

describe('terminating namespaces', () => {
  it('are left alone without errors while they finish deleting', async () => {
    const t = unique('t-term');
    const ns = unique('term');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(ns);
    await settled(op, { namespaces: [ns], tenants: [t] });
    // Every controller's errors (namespace, tenantisolation, gate, ...), and the policy writes in the namespace.
    const errors = async (): Promise<number> => (await op.metrics.reconcileErrors.get()).values.reduce((s, v) => s + v.value, 0);
    const errorsBefore = await errors();
    const writesThere = policyWritesIn(op, [ns]);
    await (await rest()).delete(`/api/v1/namespaces/${ns}`);
    await eventually(async () => (await getNamespace(ns)) === undefined, 'the namespace to be deleted', 60_000);
    await eventually(async () => !(await getTenant(t))?.status?.namespaces?.some((n) => n.name === ns), 'status to drop it');
    await settled(op, { tenants: [t] });
    expect(await errors()).toBe(errorsBefore);
    expect(op.manager.namespaceController.queue.failures(ns)).toBe(0);
    expect(op.manager.tenantController.queue.failures(t)).toBe(0);
    expect(writesThere()).toBe(0);
  });
});

describe('Audit mode', () => {
  it('writes no policies and reports what Enforce would do; switching to Enforce applies them', async () => {
    const t = unique('t-audit');
    const ns = unique('audit');
    await createNamespace(ns, { tenant: t });
    const writesThere = policyWritesIn(op, [ns]);
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, mode: 'Audit' });
    const c = await ready(t, 'True', 'AuditMode');
    expect(c.message).toContain('would be isolated');
    // Barrier: everything the operator will do about the tenant and its namespace is done.
    await settled(op, { namespaces: [ns], tenants: [t] });
    const st = (await getTenant(t))!.status!.namespaces!;
    expect(st).toEqual([{ name: ns, state: 'WouldIsolate', message: expect.stringContaining('tenant-isolation-default-deny') as string }]);
    expect(writesThere()).toBe(0);
    expect(await policyNames(ns)).toEqual([]);
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, mode: 'Enforce' });
    await isolated(ns);
    await ready(t, 'True', 'Isolated');
    await settled(op, { namespaces: [ns], tenants: [t] });
    expect(writesThere()).toBeGreaterThanOrEqual(ALL.length); // the same counter sees Enforce's writes
  });
});

describe('invalid specs', () => {
  it('are rejected by the API server when the schema can say it', async () => {
    const err = await applyTenant(unique('t-bad'), { namespaces: ['x'], dns: { ports: [{ protocol: 'UDP', port: 70000 }] } }).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/422.*spec\.dns\.ports\[0\]/);
    const empty = await applyTenant(unique('t-bad'), { mode: 'Enforce' }).then(() => undefined, (e: unknown) => e as Error);
    expect(empty?.message).toMatch(/422.*(namespaceSelector|namespaces)/);
  });

  it('that pass the schema but not the operator are reported as InvalidSpec naming the field, and existing isolation stays', async () => {
    const t = unique('t-inv');
    const ns = unique('inv');
    await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolated(ns);
    const before = await policies(ns);
    // A port name the CRD's pattern lets through but NetworkPolicy validation refuses (double hyphen):
    // the operator must catch it before it half-applies a namespace.
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { x: 'y' } }, ports: [{ port: 'web--http' }] }] } });
    const c = await ready(t, 'False', 'InvalidSpec');
    expect(c.message).toContain('spec.allow.ingressFrom[0].ports[0].port');
    expect(c.observedGeneration).toBe(2);
    expect((await condition(t, 'Stalled'))?.status).toBe('True');
    // No hot loop: once everything about the tenant is done, no retry or requeue waits for it.
    await settled(op, { namespaces: [ns], tenants: [t] });
    for (const [c, key] of [[op.manager.tenantController, t], [op.manager.namespaceController, ns]] as const) {
      expect(c.queue.isPending(key), `${c.name} ${key} queued`).toBe(false);
      expect(c.queue.isScheduled(key), `${c.name} ${key} scheduled`).toBe(false);
      expect(c.queue.failures(key), `${c.name} ${key} failing`).toBe(0);
    }
    const after = await policies(ns);
    expect(after.map((p) => p.metadata.resourceVersion)).toEqual(before.map((p) => p.metadata.resourceVersion));
    await eventually(async () => (await events(t)).some((e) => e.reason === 'InvalidSpec' && e.message.includes('ports[0].port')), 'an InvalidSpec event naming the field');
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await ready(t, 'True', 'Isolated');
  });
});

describe('writes', () => {
  it('a resync of an unchanged cluster makes zero writes', async () => {
    const t = unique('t-noop');
    const names = [unique('noop'), unique('noop'), unique('noop')];
    for (const n of names) await createNamespace(n, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await ready(t, 'True', 'Isolated');
    await settled(op, { namespaces: names, tenants: [t] });
    op.manager.events.flush(); // Events batched from the isolation above are not the resync's
    await op.manager.events.idle();
    const before = await writes(op);
    op.manager.resync();
    await settled(op, { namespaces: names, tenants: [t] });
    op.manager.events.flush();
    await op.manager.events.idle();
    expect(await writes(op)).toBe(before);
  });

  it('a new member costs exactly its own policies plus one intra-tenant update per existing member', async () => {
    const t = unique('t-count');
    const members = [unique('count-a'), unique('count-b')];
    for (const m of members) await createNamespace(m, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await ready(t, 'True', 'Isolated');
    await settled(op, { namespaces: members, tenants: [t] });
    const before = await policyWrites(op);
    const joiner = unique('count-c');
    await createNamespace(joiner, { tenant: t });
    await isolated(joiner);
    await eventually(async () => (await getTenant(t))?.status?.namespaces?.length === 3, 'status to list 3');
    await settled(op, { namespaces: [...members, joiner], tenants: [t] });
    expect(await policyWrites(op) - before).toBe(3 + members.length);
  });
});

describe('restarts', () => {
  it('an operator stopped mid-reconcile and started again converges to the same state', async () => {
    const t = unique('t-restart');
    const names = Array.from({ length: 8 }, () => unique('restart'));
    await op.stop(); // only the operators this test starts act now
    try {
      const first = await startTestOperator({ concurrency: 1 });
      // A crash at a fixed point: right after its fourth policy write, every later write of the first
      // operator fails (its write fence closes), so it stops mid-reconcile whatever the machine's speed.
      let policyWritesSeen = 0;
      let cut!: () => void;
      const cutDone = new Promise<void>((r) => { cut = r; });
      first.rest.onWrite((_verb, path) => {
        if (/\/networkpolicies(\/|$)/.test(path) && ++policyWritesSeen === 4) { first.rest.fenceWrites('the test stops it here'); cut(); }
      });
      for (const n of names) await createNamespace(n, { tenant: t });
      await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
      await cutDone;
      await first.stop(); // mid-way: at most two namespaces done (one policy batch may have been in flight)
      const partial = (await Promise.all(names.map((n) => policyNames(n)))).filter((p) => p.length === 3).length;
      expect(partial).toBeGreaterThanOrEqual(1);
      expect(partial).toBeLessThanOrEqual(2);
      const second = await startTestOperator({ concurrency: 4 });
      try {
        for (const n of names) await isolated(n);
        await ready(t, 'True', 'Isolated');
        const peersOf = async (n: string) => (await policies(n)).find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')?.spec.ingress?.[0]?.from?.[0]?.namespaceSelector?.matchExpressions?.[0]?.values;
        for (const n of names) await eventually(async () => JSON.stringify(await peersOf(n)) === JSON.stringify([...names].sort()), `the full peer list in ${n}`);
      } finally { await second.stop(); }
    } finally {
      op = await startTestOperator({ concurrency: 4 });
    }
  });
});
