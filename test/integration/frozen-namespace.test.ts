// A namespace frozen by an invalid tenant (docs/api.md: its policies stay as they were, a namespace it
// claims meanwhile gets a default-deny) holds nothing of another tenant but a deny. Found by the chaos run:
// a reconcile moving a namespace to an invalid tenant, cut after the fail-closed deny and before the
// previous tenant's other policies were deleted, left them there, and that tenant's finalizer waited on them.
import { describe, expect, it } from 'vitest';
import {
  applyTenant, condition, createNamespace, deleteTenant, eventually, getNamespace, getTenant, isolatedWith, labelNamespace, MANAGED_POLICIES, policies,
  rest, settled, startTestOperator, unique,
} from '../harness/cluster.ts';

const TENANT = 'isolation.tenancy.dev/tenant';
const DENY = 'tenant-isolation-default-deny';
const MEMBER_OF = 'isolation.tenancy.dev/member-of';
const spec = (t: string, invalid = false) => ({
  namespaceSelector: { matchLabels: { tenant: t } },
  allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { x: 'y' } }, ports: [{ port: invalid ? 'web--http' : 8080 }] }] },
});

describe('a namespace frozen by an invalid tenant', () => {
  it('loses another tenant\'s allow policies, keeps the deny, and lets that tenant be deleted', async () => {
    const [a, b, ns] = [unique('t-froz-a'), unique('t-froz-b'), unique('froz')];
    let op = await startTestOperator();
    try {
      await applyTenant(a, spec(a));
      await applyTenant(b, spec(b));
      await createNamespace(ns, { tenant: a });
      await isolatedWith(ns, [...MANAGED_POLICIES, 'tenant-isolation-allow-extra'].sort());
      await applyTenant(b, spec(b, true));
      await eventually(async () => ((await condition(b, 'Ready'))?.reason === 'InvalidSpec') || undefined, `${b} reported InvalidSpec`);
      // The state the cut reconcile leaves, written with the operator stopped: the namespace moved to b,
      // its default-deny already b's fail-closed one, a's allow policies not yet deleted.
      await op.stop();
      await labelNamespace(ns, { tenant: b });
      const bUid = (await getTenant(b))!.metadata.uid;
      await (await rest()).mergePatch(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${DENY}`, { metadata: {
        labels: { [TENANT]: b },
        ownerReferences: [{ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: b, uid: bUid, controller: true, blockOwnerDeletion: true }],
      } }, 'tests');
      op = await startTestOperator();
      const held = await eventually(async () => {
        const ps = await policies(ns);
        return ps.every((p) => p.metadata.labels?.[TENANT] === b) ? ps : undefined;
      }, `${ns} to hold nothing of ${a}`);
      expect(held.map((p) => p.metadata.name)).toEqual([DENY]);
      await deleteTenant(a);
      await eventually(async () => (await getTenant(a)) === undefined || undefined, `${a} to be deleted (its finalizer released)`);
    } finally {
      await deleteTenant(b).catch(() => undefined);
      await eventually(async () => (await getTenant(b)) === undefined || undefined, `${b} to be deleted`);
      await (await rest()).delete(`/api/v1/namespaces/${ns}`);
      await op.stop();
    }
  }, 60_000);

  it('is let go when it moves to another tenant: it keeps nothing of the invalid one, not even its member label', async () => {
    const [a, b, ns] = [unique('t-froz-c'), unique('t-froz-d'), unique('froz')];
    const op = await startTestOperator();
    try {
      await applyTenant(a, spec(a));
      await applyTenant(b, spec(b));
      await createNamespace(ns, { tenant: a });
      const all = [...MANAGED_POLICIES, 'tenant-isolation-allow-extra'].sort();
      await isolatedWith(ns, all);
      await eventually(async () => (await getNamespace(ns))?.metadata.labels?.[MEMBER_OF] === a || undefined, `${ns} labelled a member of ${a}`);
      // What a's valid spec left there, once the operator has done all it will about it.
      await settled(op, { namespaces: [ns], tenants: [a, b] });
      const snapshot = async (): Promise<string[]> => (await policies(ns)).map((p) => `${p.metadata.name}@${p.metadata.resourceVersion} ${p.metadata.labels?.[TENANT]}`);
      const before = await snapshot();
      expect(before.map((p) => p.split('@')[0])).toEqual(all);
      expect(before.every((p) => p.endsWith(` ${a}`))).toBe(true);
      await applyTenant(a, spec(a, true));
      await eventually(async () => ((await condition(a, 'Ready'))?.reason === 'InvalidSpec') || undefined, `${a} reported InvalidSpec`);
      // Frozen while a claims it: its policies stay as they were, not one of them written.
      await settled(op, { namespaces: [ns], tenants: [a, b] });
      expect(await snapshot()).toEqual(before);
      await labelNamespace(ns, { tenant: b });
      const held = await eventually(async () => {
        const ps = await policies(ns);
        return ps.length === all.length && ps.every((p) => p.metadata.labels?.[TENANT] === b) ? ps : undefined;
      }, `${ns} to hold ${b}'s policies only`);
      expect(held.map((p) => p.metadata.name).sort()).toEqual(all);
      await eventually(async () => (await getNamespace(ns))?.metadata.labels?.[MEMBER_OF] === b || undefined, `${ns} labelled a member of ${b}`);
    } finally {
      for (const t of [a, b]) await deleteTenant(t).catch(() => undefined);
      for (const t of [a, b]) await eventually(async () => (await getTenant(t)) === undefined || undefined, `${t} to be deleted`);
      await (await rest()).delete(`/api/v1/namespaces/${ns}`);
      await op.stop();
    }
  }, 60_000);
});
