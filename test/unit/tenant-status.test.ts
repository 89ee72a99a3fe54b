// The tenant status as a pure function of what the caches show.
import { describe, expect, it } from 'vitest';
import { TENANT_STATUS_LIST_MAX, tenantIsolationStatus, type TenantIsolationObject } from '../../src/api/schema.ts';
import { invalidTenantStatus, statusDiffers, tenantStatus, unlisted, type NamespaceFacts, type TenantStatusInput } from '../../src/controller/tenant-status.ts';
import { tenant } from './fixtures.ts';

const t = tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } });
const want = new Map([['tenant-isolation-default-deny', 'd1'], ['tenant-isolation-allow-dns', 'd2'], ['tenant-isolation-allow-intra-tenant', 'd3']]);
const object = (status?: TenantIsolationObject['status']): TenantIsolationObject => ({ metadata: { name: 'acme', uid: 'uid-acme', generation: 1 }, ...(status ? { status } : {}) });
const facts = (name: string, over: Partial<NamespaceFacts> = {}): NamespaceFacts => ({
  name, missing: false, terminating: false, claimants: ['acme'], stored: new Map(want), frozenBy: undefined, lastError: undefined, busy: false, clashes: [], memberLabel: 'acme', ...over,
});
const input = (over: Partial<TenantStatusInput> = {}): TenantStatusInput => ({
  object: object(), tenant: t, memberDigests: want, namespaces: [facts('a')], breaches: [], excluded: [],
  gate: { policy: 'tenant-isolation-pod-gate', installed: true, bound: true }, memberLabel: { guarded: true, strays: [] },
  membershipGuard: { installed: true, guarded: new Set(['tenant']) }, now: new Date('2026-11-30T00:00:00Z'), ...over,
});
const cond = (r: ReturnType<typeof tenantStatus>, type: string) => r.status.conditions?.find((c) => c.type === type);

describe('tenantStatus', () => {
  it('MembershipGuarded says whether relabelling can move a namespace into or out of the tenant', () => {
    expect(cond(tenantStatus(input()), 'MembershipGuarded')).toMatchObject({ status: 'True', reason: 'KeysGuarded' });
    const notYet = cond(tenantStatus(input({ membershipGuard: { installed: true, guarded: new Set(['team']) } })), 'MembershipGuarded');
    expect(notYet).toMatchObject({ status: 'False', reason: 'KeysNotListed' });
    expect(notYet?.message).toContain('label tenant is not listed yet in ConfigMap tenant-isolation-membership-keys');
    expect(cond(tenantStatus(input({ membershipGuard: { installed: false, guarded: new Set(['tenant']) } })), 'MembershipGuarded')).toMatchObject({ status: 'False', reason: 'GuardNotInstalled' });
    const byName = tenant('acme', { namespaces: ['a'] });
    expect(cond(tenantStatus(input({ tenant: byName, membershipGuard: { installed: false, guarded: new Set() } })), 'MembershipGuarded')).toMatchObject({ status: 'True', reason: 'NamesOnly' });
  });

  it('a namespace holding exactly the declared policies is Isolated; Ready and Gated are True', () => {
    const r = tenantStatus(input());
    expect(r.status.namespaces).toEqual([{ name: 'a', state: 'Isolated', message: '3 policies applied' }]);
    expect(cond(r, 'Ready')).toMatchObject({ status: 'True', reason: 'Isolated' });
    expect(cond(r, 'Gated')).toMatchObject({ status: 'True', reason: 'PodsWaitForIsolation' });
    expect(r.settling).toBe(false);
  });

  it('a conflict says what it holds: the fail-closed deny where a claimant enforces, nothing where all are in Audit', () => {
    const conflict = (conflictEnforced: boolean) => tenantStatus(input({ namespaces: [facts('a', { claimants: ['acme', 'globex'], stored: new Map(), conflictEnforced })] }));
    expect(conflict(true).status.namespaces?.[0]?.message).toBe('also claimed by TenantIsolation globex; failed closed (default-deny only)');
    const audit = conflict(false);
    expect(audit.status.namespaces?.[0]).toMatchObject({ state: 'Conflict', message: 'also claimed by TenantIsolation globex; no claimant enforces, so nothing is written' });
    expect(cond(audit, 'Ready')?.message).toContain('no claimant enforces, so nothing is written there');
    expect(audit.events.find((e) => e.reason === 'NamespaceConflict')?.message).toBe('Namespace a is also claimed by TenantIsolation globex; no claimant enforces, so nothing is written until one claim goes away');
  });

  it('policies stored but the reconcile failing (its label patch refused, say) is Pending with the error, not Isolated', () => {
    const r = tenantStatus(input({ namespaces: [facts('a', { lastError: 'reconcile failed, retrying: 403 namespaces "a" is forbidden' })] }));
    expect(r.status.namespaces).toEqual([{ name: 'a', state: 'Pending', message: 'reconcile failed, retrying: 403 namespaces "a" is forbidden' }]);
    expect(cond(r, 'Ready')?.status).toBe('False');
  });

  it('a reserved namespace the selector matches is listed Excluded, announced once, and not counted', () => {
    const r = tenantStatus(input({ excluded: ['kube-system'] }));
    expect(r.status.namespaces).toContainEqual(expect.objectContaining({ name: 'kube-system', state: 'Excluded' }));
    expect(r.status.summary).toBe('1/1 isolated, 1 excluded');
    expect(r.events.map((e) => e.reason)).toEqual(['ReservedNamespaceExcluded']);
    expect(tenantStatus(input({ excluded: ['kube-system'], object: object(r.status) })).events).toEqual([]);
  });

  it('a name someone else\'s policy holds keeps the namespace Pending, naming the policy', () => {
    const r = tenantStatus(input({ namespaces: [facts('a', { stored: new Map([['tenant-isolation-allow-dns', 'd2'], ['tenant-isolation-allow-intra-tenant', 'd3']]), clashes: ['tenant-isolation-default-deny'] })] }));
    expect(r.status.namespaces?.[0]).toMatchObject({ state: 'Pending' });
    expect(r.status.namespaces?.[0]?.message).toContain('NetworkPolicy tenant-isolation-default-deny here is not the operator\'s');
    expect(cond(r, 'Ready')).toMatchObject({ status: 'False', reason: 'Pending' });
  });

  it('says when the gate is not installed, still being bound, or not wanted', () => {
    expect(cond(tenantStatus(input({ gate: { policy: 'tenant-isolation-pod-gate', installed: false, bound: true } })), 'Gated')).toMatchObject({ status: 'False', reason: 'GateNotInstalled' });
    expect(cond(tenantStatus(input({ gate: { policy: 'tenant-isolation-pod-gate', installed: true, bound: false, retryAfterMs: 500 } })), 'Gated')).toMatchObject({ status: 'False', reason: 'Binding' });
    expect(cond(tenantStatus(input({ gate: { policy: undefined, installed: true, bound: true } })), 'Gated')).toMatchObject({ status: 'False', reason: 'NoDefaultDeny' });
    expect(cond(tenantStatus(input({ gate: { policy: 'tenant-isolation-audit-notice', installed: true, bound: true } })), 'Gated')).toMatchObject({ status: 'True', reason: 'AuditNotice' });
  });

  it('an Audit tenant reports AuditMode, never Isolated, even before it has a member', () => {
    const audit = tenant('acme', { mode: 'Audit', namespaceSelector: { matchLabels: { tenant: 'acme' } } });
    expect(cond(tenantStatus(input({ tenant: audit, namespaces: [] })), 'Ready')).toMatchObject({ status: 'True', reason: 'AuditMode' });
    expect(cond(tenantStatus(input({ tenant: audit })), 'Ready')).toMatchObject({ status: 'True', reason: 'AuditMode' });
    expect(cond(tenantStatus(input({ namespaces: [] })), 'Ready')).toMatchObject({ status: 'True', reason: 'Isolated' });
  });

  it('a namespace still being reconciled keeps its last reported state, or holds the write back when it has none', () => {
    const busy = facts('b', { stored: new Map(), busy: true });
    expect(tenantStatus(input({ namespaces: [facts('a'), busy] })).settling).toBe(true);
    const before = object({ namespaces: [{ name: 'b', state: 'Isolated', message: '3 policies applied' }] });
    const r = tenantStatus(input({ object: before, namespaces: [facts('a'), busy] }));
    expect(r.settling).toBe(false);
    expect(r.status.namespaces?.find((n) => n.name === 'b')?.state).toBe('Isolated');
  });

  it('names members by label once the gate guards it and every isolated member carries it; by name again when the guard goes', () => {
    expect(tenantStatus(input()).status.intraTenantPeers).toBe('MembershipLabel');
    // A member without the label yet, or a stranger with it: keep naming members.
    expect(tenantStatus(input({ namespaces: [facts('a'), facts('b', { memberLabel: undefined })] })).status.intraTenantPeers).toBe('NamespaceNames');
    expect(tenantStatus(input({ memberLabel: { guarded: true, strays: ['x'] } })).status.intraTenantPeers).toBe('NamespaceNames');
    // Once by label, a new member not yet labelled does not send the tenant back to names.
    const byLabel = object({ intraTenantPeers: 'MembershipLabel' });
    expect(tenantStatus(input({ object: byLabel, namespaces: [facts('a'), facts('b', { memberLabel: undefined })] })).status.intraTenantPeers).toBe('MembershipLabel');
    // The guard removed: by name, whatever the status said.
    expect(tenantStatus(input({ object: byLabel, memberLabel: { guarded: false, strays: [] } })).status.intraTenantPeers).toBe('NamespaceNames');
  });

  it('records a tenant that started by label as it is, while members still settle and before they carry it', () => {
    const fresh = object({});
    const unlabelled = { namespaces: [facts('a', { busy: true }), facts('b', { memberLabel: undefined })] };
    expect(tenantStatus(input({ object: fresh, ...unlabelled, memberLabel: { guarded: true, strays: [], inUse: 'MembershipLabel' } })).status.intraTenantPeers).toBe('MembershipLabel');
    // Started by name (it held policies when first asked): the switch waits as for any tenant.
    expect(tenantStatus(input({ object: fresh, ...unlabelled, memberLabel: { guarded: true, strays: [], inUse: 'NamespaceNames' } })).status.intraTenantPeers).toBe('NamespaceNames');
    // A mode the status recorded rules over the one in use; the guard gone, by name.
    expect(tenantStatus(input({ object: object({ intraTenantPeers: 'NamespaceNames' }), ...unlabelled, memberLabel: { guarded: true, strays: [], inUse: 'MembershipLabel' } })).status.intraTenantPeers).toBe('NamespaceNames');
    expect(tenantStatus(input({ object: fresh, memberLabel: { guarded: false, strays: [], inUse: 'MembershipLabel' } })).status.intraTenantPeers).toBe('NamespaceNames');
    // A stranger carrying the label by now: not recorded as by label (the handlers then go back to names).
    expect(tenantStatus(input({ object: fresh, memberLabel: { guarded: true, strays: ['x'], inUse: 'MembershipLabel' } })).status.intraTenantPeers).toBe('NamespaceNames');
  });

  it('past 1000 namespaces lists the unsettled ones first and counts every one, so the status stays writable', () => {
    // 1 500 members; the 10 that are not isolated sort last by name, where a plain cut would drop them.
    const names = Array.from({ length: 1500 }, (_, i) => `ns-${String(i).padStart(4, '0')}`);
    const members = names.map((n, i) => (i >= 1490 ? facts(n, { stored: new Map(), lastError: 'apply failed: etcdserver: request timed out' }) : facts(n)));
    const r = tenantStatus(input({ namespaces: members, excluded: ['kube-system'] }));
    const list = r.status.namespaces ?? [];
    expect(list).toHaveLength(TENANT_STATUS_LIST_MAX);
    expect(list.map((n) => n.name)).toEqual([...list.map((n) => n.name)].sort());
    expect(list.filter((n) => n.state !== 'Isolated').map((n) => n.name)).toEqual(['kube-system', ...names.slice(1490)]);
    expect(r.status.namespaceCounts).toEqual({ isolated: 1490, pending: 10, conflict: 0, terminating: 0, wouldIsolate: 0, excluded: 1 });
    // Summary and conditions speak of all of them, not of the list.
    expect(r.status.summary).toBe('1490/1500 isolated, 10 pending, 1 excluded');
    expect(cond(r, 'Ready')?.message).toMatch(/^10 of 1501 namespace\(s\) not yet isolated: ns-1490/);
    expect(tenantIsolationStatus.safeParse(r.status).success).toBe(true);
    expect(unlisted(r.status)).toEqual(new Map([['Isolated', 501]]));
    // A join the list does not show still changes the status (the counts).
    const joined = tenantStatus(input({ object: object(r.status), namespaces: [...members, facts('zz-new')], excluded: ['kube-system'] }));
    expect(joined.status.namespaces).toEqual(list);
    expect(statusDiffers(r.status, joined.status)).toBe(true);
    // A settled member the list left out, being reconciled again: its state is in the full list the
    // reconciler remembers (previousAll); without that list the write waits for it to settle.
    const again = members.map((f) => (f.name === 'ns-1400' ? { ...f, busy: true, stored: new Map() } : f));
    expect(tenantStatus(input({ object: object(r.status), namespaces: again })).settling).toBe(true);
    const kept = tenantStatus(input({ object: object(r.status), namespaces: again, previousAll: new Map(r.all.map((n) => [n.name, n])) }));
    expect(kept.settling).toBe(false);
    expect(kept.all.find((n) => n.name === 'ns-1400')?.state).toBe('Isolated');
    expect(r.all).toHaveLength(1501);
  });

  it('counts no conflict beyond the list: a conflicted namespace is in several tenants\' counts', () => {
    const status = { namespaces: [], namespaceCounts: { isolated: 3, pending: 1, conflict: 2, terminating: 0, wouldIsolate: 0, excluded: 0 } };
    expect(unlisted(status)).toEqual(new Map([['Isolated', 3], ['Pending', 1]]));
  });

  it('up to 1000 namespaces lists every one, and counts nothing beyond the list', () => {
    const members = Array.from({ length: TENANT_STATUS_LIST_MAX }, (_, i) => facts(`ns-${String(i).padStart(4, '0')}`));
    const r = tenantStatus(input({ namespaces: members }));
    expect(r.status.namespaces).toHaveLength(TENANT_STATUS_LIST_MAX);
    expect(r.status.namespaceCounts?.isolated).toBe(TENANT_STATUS_LIST_MAX);
    expect(unlisted(r.status).size).toBe(0);
    expect(tenantIsolationStatus.safeParse({ ...r.status, namespaces: [...r.status.namespaces!, { name: 'one-more', state: 'Isolated' }] }).success).toBe(false);
  });
});

describe('conditions nobody keeps any more', () => {
  const proven = tenantStatus(input()).status;

  it('Isolated goes when the operator runs without the proof', () => {
    expect(proven.conditions?.some((c) => c.type === 'Isolated')).toBe(true);
    const off = tenantStatus(input({ object: object(proven), breaches: undefined }));
    expect(off.status.conditions?.map((c) => c.type)).not.toContain('Isolated');
    expect(cond(off, 'Ready')).toMatchObject({ status: 'True' });
  });

  it('an invalid tenant reports the gate of the claims it still makes, and Isolated as unknown', () => {
    const at = new Date('2026-11-30T00:01:00Z');
    const guard = { installed: true, guarded: new Set(['tenant']) };
    const claims = { tenant: t, gate: { policy: 'tenant-isolation-pod-gate' as const, installed: false, bound: false } };
    const r = invalidTenantStatus(object(proven), 'spec.allow: bad', at, 'InvalidSpec', { claims, membershipGuard: guard, proof: true });
    const c = (type: string) => r.status.conditions?.find((x) => x.type === type);
    expect(c('Gated')).toMatchObject({ status: 'False', reason: 'GateNotInstalled' });
    expect(c('MembershipGuarded')).toMatchObject({ status: 'True', reason: 'KeysGuarded' });
    expect(c('Isolated')).toMatchObject({ status: 'Unknown', reason: 'InvalidSpec' });
    expect(c('Ready')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    // Claims it cannot say: unknown; the proof off: no Isolated at all.
    const none = invalidTenantStatus(object(proven), 'spec: bad', at, 'InvalidSpec', { claims: undefined, membershipGuard: guard, proof: false });
    expect(none.status.conditions?.find((x) => x.type === 'Gated')).toMatchObject({ status: 'Unknown', reason: 'InvalidSpec' });
    expect(none.status.conditions?.find((x) => x.type === 'MembershipGuarded')).toMatchObject({ status: 'Unknown' });
    expect(none.status.conditions?.map((x) => x.type)).not.toContain('Isolated');
  });
});

describe('a spec change in progress', () => {
  it('keeps the members listed as they last settled, but says Reconciling until they hold the new policies', () => {
    const settled = tenantStatus(input({ namespaces: [facts('a'), facts('b')] })).status;
    const next = new Map(want).set('tenant-isolation-allow-intra-tenant', 'd3-new');
    const obj = { ...object(settled), metadata: { ...object().metadata, generation: 2 } };
    const mid = tenantStatus(input({ object: obj, memberDigests: next, namespaces: [facts('a', { busy: true }), facts('b', { stored: next })] }));
    expect(mid.status.observedGeneration).toBe(2);
    expect(mid.status.namespaces?.map((n) => n.state)).toEqual(['Isolated', 'Isolated']);
    expect(cond(mid, 'Ready')).toMatchObject({ status: 'True' });
    expect(cond(mid, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing', message: '1 namespace(s) being updated' });
    const done = tenantStatus(input({ object: { ...obj, status: mid.status }, memberDigests: next, namespaces: [facts('a', { stored: next }), facts('b', { stored: next })] }));
    expect(cond(done, 'Reconciling')).toMatchObject({ status: 'False', reason: 'Reconciled' });
  });
});
