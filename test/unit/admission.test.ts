// The admission gate's pure parts: which bindings a tenant gets, what verify reports missing, how an
// invalid spec still claims namespaces, reserved namespaces, and what the operator treats as its own.
import { describe, expect, it } from 'vitest';
import { AUDIT_NOTICE, MANAGED_POLICIES_GUARD, MEMBERSHIP_GUARD, POD_GATE, bindingDigest, bindingsCovering, claimsOf, gateBindings, missingGate, membershipKeys, membershipKeysConfigMap, staticAdmissionObjects } from '../../src/admission/policies.ts';
import { RESERVED_NAMESPACES, parseTenant, selectorNamesItsNamespaces } from '../../src/api/schema.ts';
import { planNamespace, policiesToApply } from '../../src/policy/desired.ts';
import { compactPolicy, isOperatorPolicy } from '../../src/policy/diff.ts';
import { MembershipIndex } from '../../src/policy/membership.ts';
import { specError, tenant } from './fixtures.ts';

const RESERVED = [...RESERVED_NAMESPACES];

describe('gateBindings', () => {
  const claims = (name: string, spec: Record<string, unknown>) => claimsOf(tenant(name, spec));
  const owners = new Map([[POD_GATE, 'uid-gate'], [AUDIT_NOTICE, 'uid-audit']]);

  it('shares one binding per label key among tenants selected by one label pair, whatever their number', () => {
    const tenants = Array.from({ length: 500 }, (_, i) => claims(`t${i}`, { namespaceSelector: { matchLabels: { tenant: `t${i}` } } }));
    const bindings = gateBindings(tenants, RESERVED, owners);
    expect(bindings).toHaveLength(1);
    const [b] = bindings;
    expect(b!.metadata.name).toMatch(new RegExp(`^${POD_GATE}\\.label\\.tenant-[0-9a-f]{6}$`));
    expect(b!.spec.policyName).toBe(POD_GATE);
    expect(b!.spec.validationActions).toEqual(['Deny']);
    const [inTenants, notReserved] = b!.spec.matchResources.namespaceSelector.matchExpressions!;
    expect(inTenants).toMatchObject({ key: 'tenant', operator: 'In' });
    expect(inTenants!.values).toHaveLength(500);
    expect(notReserved).toEqual({ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...RESERVED].sort() });
    // Owned by its policy: removing the policy removes the binding.
    expect(b!.metadata.ownerReferences).toEqual([{ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', name: POD_GATE, uid: 'uid-gate' }]);
    expect(bindingsCovering(tenants[7]!)).toEqual([b!.metadata.name]);
  });

  it('gives other selectors a binding each, explicit names one shared binding, and never a reserved name', () => {
    const a = claims('a', { namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['x', 'y'] }] } });
    const b = claims('b', { namespaces: ['legacy-b', 'kube-public-ish'] });
    const c = claims('c', { namespaces: ['legacy-c'] });
    const names = gateBindings([a, b, c], RESERVED, owners).map((x) => x.metadata.name);
    expect(names).toEqual([`${POD_GATE}.names`, `${POD_GATE}.tenant.a`]);
    const byName = gateBindings([b, c], RESERVED, owners)[0]!;
    expect(byName.spec.matchResources.namespaceSelector).toEqual({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-public-ish', 'legacy-b', 'legacy-c'] }] });
    expect(bindingsCovering(a)).toEqual([`${POD_GATE}.tenant.a`]);
  });

  it('binds Audit tenants to the notice (a warning) and tenants with no default-deny to nothing', () => {
    const audit = claims('obs', { namespaceSelector: { matchLabels: { t: 'o' } }, mode: 'Audit' });
    const [b] = gateBindings([audit], RESERVED, owners);
    expect(b!.spec).toMatchObject({ policyName: AUDIT_NOTICE, validationActions: ['Warn', 'Audit'] });
    expect(gateBindings([claims('open', { namespaceSelector: { matchLabels: { t: 'x' } }, defaultDeny: { ingress: false, egress: false } })], RESERVED, owners)).toEqual([]);
  });

  it('digests only what the operator sets: server defaults added to a stored binding change nothing', () => {
    const [b] = gateBindings([claims('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } })], RESERVED, owners);
    const stored = structuredClone(b!) as unknown as { spec: { matchResources: Record<string, unknown> }; metadata: Record<string, unknown> };
    stored.spec.matchResources.matchPolicy = 'Equivalent';
    stored.spec.matchResources.objectSelector = {};
    stored.metadata.resourceVersion = '9';
    expect(bindingDigest(stored as never)).toBe(bindingDigest(b!));
    const narrowed = structuredClone(b!);
    narrowed.spec.validationActions = ['Warn'];
    expect(bindingDigest(narrowed)).not.toBe(bindingDigest(b!));
  });
});

describe('membershipKeys (the membership guard\'s one param)', () => {
  it('lists every key any stored selector reads, valid or not, sorted and once, without the immutable name label', () => {
    const stored = [
      { spec: { namespaceSelector: { matchLabels: { tenant: 'a', 'example.com/team': 'x' } } } },
      { spec: { namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'In', values: ['b'] }, { key: 'kubernetes.io/metadata.name', operator: 'In', values: ['n'] }] } } },
      // An invalid spec still claims: its keys stay guarded.
      { spec: { namespaceSelector: { matchExpressions: [{ key: 'stage', operator: 'Exists' }, { operator: 'Exists' }, null] }, mode: 'Bogus' } },
      { spec: { namespaces: ['n'] } }, {}, { spec: { namespaceSelector: 'not an object' } },
    ];
    expect(membershipKeys(stored)).toEqual(['example.com/team', 'stage', 'tenant']);
    expect(membershipKeys([])).toEqual([]);
  });

  it('is written as one comma-joined field; shipped without data, so re-applying config/ never drops keys', () => {
    expect(membershipKeysConfigMap('ops', ['a', 'example.com/b'])).toMatchObject({ metadata: { name: 'tenant-isolation-membership-keys', namespace: 'ops' }, data: { labelKeys: 'a,example.com/b' } });
    expect(membershipKeysConfigMap('ops', [])).toMatchObject({ data: { labelKeys: '' } });
    const shipped = staticAdmissionObjects('ops').find((o) => o.kind === 'ConfigMap')!;
    expect(shipped).not.toHaveProperty('data');
    const binding = staticAdmissionObjects('ops').find((o) => (o.metadata as { name: string }).name === MEMBERSHIP_GUARD && o.kind === 'ValidatingAdmissionPolicyBinding');
    expect(binding).toMatchObject({ spec: { paramRef: { name: 'tenant-isolation-membership-keys', namespace: 'ops', parameterNotFoundAction: 'Allow' } } });
  });
});

describe('missingGate (what verify reports)', () => {
  const names = (objs: { metadata: { name: string } }[]): Set<string> => new Set(objs.map((o) => o.metadata.name));
  const statics = staticAdmissionObjects() as { kind: string; metadata: { name: string } }[];
  const policies = names(statics.filter((o) => o.kind === 'ValidatingAdmissionPolicy'));
  const bindings = names(statics.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding'));
  const t = claimsOf(tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } }));
  const covering = bindingsCovering(t)[0]!;

  it('is empty for a complete gate, and names every missing piece', () => {
    expect(missingGate([t], policies, new Set([...bindings, covering]))).toEqual([]);
    expect(missingGate([t], policies, bindings)).toEqual([`TenantIsolation acme: binding ${covering} is missing (the operator writes it)`]);
    const none = missingGate([t], new Set(), new Set());
    expect(none).toContain(`ValidatingAdmissionPolicy ${POD_GATE} is not installed (config/admission)`);
    expect(none).toContain(`ValidatingAdmissionPolicyBinding ${MANAGED_POLICIES_GUARD} is not installed (config/admission)`);
    expect(none).toContain(`ValidatingAdmissionPolicyBinding ${MEMBERSHIP_GUARD} is not installed (config/admission)`);
  });
});

describe('membership that cannot be hijacked', () => {
  it('a selector must name the namespaces it selects', () => {
    expect(selectorNamesItsNamespaces({ matchLabels: { tenant: 'a' } })).toBe(true);
    expect(selectorNamesItsNamespaces({ matchExpressions: [{ key: 'tenant', operator: 'In', values: ['a'] }] })).toBe(true);
    expect(selectorNamesItsNamespaces({ matchExpressions: [{ key: 'team', operator: 'Exists' }] })).toBe(true);
    expect(selectorNamesItsNamespaces({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'Exists' }] })).toBe(false);
    expect(selectorNamesItsNamespaces({ matchExpressions: [{ key: 'tenant', operator: 'NotIn', values: ['a'] }, { key: 'x', operator: 'DoesNotExist' }] })).toBe(false);
    expect(specError({ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'Exists' }] } })).toMatch(/spec\.namespaceSelector: must name the namespaces it selects/);
  });

  it('refuses reserved namespaces by name', () => {
    for (const ns of RESERVED) expect(specError({ namespaces: ['ok', ns] })).toContain('spec.namespaces[1]: is a reserved namespace');
  });

  it('never makes a reserved namespace a member, and says which ones a tenant\'s selector matches', () => {
    const ix = new MembershipIndex(['kube-system']);
    ix.setTenant(tenant('all', { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-system', 'apps'] }] } }));
    ix.setNamespace('kube-system', { 'kubernetes.io/metadata.name': 'kube-system' });
    ix.setNamespace('apps', { 'kubernetes.io/metadata.name': 'apps' });
    expect(ix.claimedBy('all')).toEqual(['apps']);
    expect(ix.claimantsOf('kube-system')).toEqual([]);
    expect(ix.excludedFor('all')).toEqual(['kube-system']);
  });

  it('an invalid spec still claims what its selector and names say, and those namespaces fail closed', () => {
    const r = parseTenant({ metadata: { name: 'acme', uid: 'u1', generation: 2 }, spec: { namespaceSelector: { matchLabels: { tenant: 'acme' } }, allow: { ingressFrom: [{ podSelector: {}, ports: [{ port: 'web--http' }] }] } } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.claims?.invalid).toBe(r.error);
    expect(r.claims?.spec.namespaceSelector).toEqual({ matchLabels: { tenant: 'acme' } });
    const plan = planNamespace('a1', [r.claims!], () => ['a1']);
    expect(plan.kind).toBe('failClosed');
    const [deny] = policiesToApply(plan);
    expect(deny!.metadata.name).toBe('tenant-isolation-default-deny');
    expect(deny!.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(deny!.metadata.annotations).toBeUndefined();
    // No clear claim, no claims: nothing is taken on a guess.
    const bad = parseTenant({ metadata: { name: 'x', uid: 'u', generation: 1 }, spec: { namespaceSelector: {} } });
    expect(!bad.ok && bad.claims).toBe(undefined);
  });
});

describe('what the operator treats as its own', () => {
  const known = (uid: string): string | undefined => (uid === 'uid-acme' ? 'acme' : undefined);
  const [deny] = policiesToApply(planNamespace('a1', [tenant('acme', { namespaces: ['a1'] })], () => ['a1']));

  it('a reserved name owned (as controller) by a TenantIsolation it knows', () => {
    expect(isOperatorPolicy(compactPolicy(deny!), known)).toBe(true);
  });

  it('not a policy of a tenant it does not know, not one with another name, not one whose label alone says so', () => {
    expect(isOperatorPolicy(compactPolicy(deny!), () => undefined)).toBe(false);
    expect(isOperatorPolicy(compactPolicy({ ...deny!, metadata: { ...deny!.metadata, name: 'team-deny' } }), known)).toBe(false);
    expect(isOperatorPolicy(compactPolicy({ ...deny!, metadata: { ...deny!.metadata, ownerReferences: [] } }), known)).toBe(false);
    const notController = { ...deny!, metadata: { ...deny!.metadata, ownerReferences: deny!.metadata.ownerReferences!.map((o) => ({ ...o, controller: false })) } };
    expect(isOperatorPolicy(compactPolicy(notController), known)).toBe(false);
  });
});
