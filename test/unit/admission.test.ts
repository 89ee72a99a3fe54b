// The admission gate's pure parts: which bindings a tenant gets, what verify reports missing, how an
// invalid spec still claims namespaces, reserved namespaces, and what the operator treats as its own.
import { describe, expect, it } from 'vitest';
import { AUDIT_NOTICE, MANAGED_POLICIES_GUARD, MEMBERSHIP_GUARD, POD_GATE, bindingDigest, claimsOf, missingGate, staticAdmissionObjects, tenantBindings } from '../../src/admission/policies.ts';
import { RESERVED_NAMESPACES, parseTenant, selectorNamesItsNamespaces } from '../../src/api/schema.ts';
import { planNamespace, policiesToApply } from '../../src/policy/desired.ts';
import { compactPolicy, isOperatorPolicy } from '../../src/policy/diff.ts';
import { MembershipIndex } from '../../src/policy/membership.ts';
import { specError, tenant } from './fixtures.ts';

const RESERVED = [...RESERVED_NAMESPACES];

describe('tenantBindings', () => {
  it('binds the pod gate to the selector, never to a reserved namespace, and to explicit names apart', () => {
    const t = tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } }, namespaces: ['legacy', 'kube-public-ish'] });
    const [bySelector, byName] = tenantBindings(claimsOf(t), RESERVED);
    expect(bySelector!.metadata.name).toBe(`${POD_GATE}.by-selector.acme`);
    expect(bySelector!.spec).toEqual({
      policyName: POD_GATE,
      paramRef: { name: 'tenant-isolation-default-deny', parameterNotFoundAction: 'Deny' },
      matchResources: { namespaceSelector: { matchLabels: { tenant: 'acme' }, matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...RESERVED].sort() }] } },
      validationActions: ['Deny'],
    });
    expect(byName!.metadata.name).toBe(`${POD_GATE}.by-name.acme`);
    expect(byName!.spec.matchResources.namespaceSelector).toEqual({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['kube-public-ish', 'legacy'] }] });
    expect(bySelector!.metadata.ownerReferences).toEqual([{ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: 'acme', uid: 'uid-acme', controller: true, blockOwnerDeletion: true }]);
  });

  it('gives an Audit tenant a warning instead, and a tenant with no default-deny nothing to wait for', () => {
    const audit = tenant('obs', { namespaceSelector: { matchLabels: { t: 'o' } }, mode: 'Audit' });
    const [b] = tenantBindings(claimsOf(audit), RESERVED);
    expect(b!.spec).toMatchObject({ policyName: AUDIT_NOTICE, paramRef: { name: 'obs', parameterNotFoundAction: 'Allow' }, validationActions: ['Warn', 'Audit'] });
    expect(tenantBindings(claimsOf(tenant('open', { namespaceSelector: { matchLabels: { t: 'x' } }, defaultDeny: { ingress: false, egress: false } })), RESERVED)).toEqual([]);
  });

  it('digests only what the operator sets: server defaults added to a stored binding change nothing', () => {
    const [b] = tenantBindings(claimsOf(tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } })), RESERVED);
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

describe('missingGate (what verify reports)', () => {
  const names = (objs: { metadata: { name: string } }[]): Set<string> => new Set(objs.map((o) => o.metadata.name));
  const statics = staticAdmissionObjects() as { kind: string; metadata: { name: string } }[];
  const policies = names(statics.filter((o) => o.kind === 'ValidatingAdmissionPolicy'));
  const bindings = names(statics.filter((o) => o.kind === 'ValidatingAdmissionPolicyBinding'));
  const t = claimsOf(tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } }));

  it('is empty for a complete gate, and names every missing piece', () => {
    expect(missingGate([t], RESERVED, policies, new Set([...bindings, `${POD_GATE}.by-selector.acme`]))).toEqual([]);
    expect(missingGate([t], RESERVED, policies, bindings)).toEqual([`TenantIsolation acme: binding ${POD_GATE}.by-selector.acme is missing (the operator writes it)`]);
    const none = missingGate([t], RESERVED, new Set(), new Set());
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
