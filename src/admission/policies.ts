// The admission gate: in-tree ValidatingAdmissionPolicies (CEL run by the apiserver itself: no webhook
// server, no certificates, nothing that fails open when the operator is down). Pure: the static policies
// and their bindings are generated from here into config/admission/ (hack/generate.ts); the per-tenant
// pod-gate bindings are written by the operator from tenantBindings().
//   pod gate           a Pod in a namespace claimed by an enforcing tenant is refused until that namespace
//                      holds the operator's tenant-isolation-default-deny (paramRef, parameterNotFoundAction
//                      Deny); Audit tenants get a warning instead (kubectl prints it) and an audit annotation
//   managed policies   nobody without isolation.tenancy.dev/managednetworkpolicies (the operator; the
//                      namespace and garbage-collector controllers for deletes; cluster-admins) may create,
//                      change or delete a tenant-isolation-* policy or one with the operator's label
//   membership         changing a namespace label that a tenant's selector reads needs
//                      isolation.tenancy.dev/namespacememberships update (ClusterRole
//                      tenant-isolation-membership-editor)
import { createHash } from 'node:crypto';
import { API_VERSION, GROUP, KIND } from '../api/schema.ts';
import { canonical } from '../policy/diff.ts';
import type { LabelSelector, ValidTenant } from '../api/schema.ts';
import { LABEL_MANAGED_BY, LABEL_NAMESPACE_NAME, LABEL_TENANT, OPERATOR_NAME, POLICY_DEFAULT_DENY, RESERVED_POLICY_PREFIX } from '../policy/labels.ts';
import type { OwnerReference } from '../policy/types.ts';

export const POD_GATE = 'tenant-isolation-pod-gate';
export const AUDIT_NOTICE = 'tenant-isolation-audit-notice';
export const MANAGED_POLICIES_GUARD = 'tenant-isolation-managed-policies';
export const MEMBERSHIP_GUARD = 'tenant-isolation-membership';
/** Virtual resources (RBAC only, no API): who may write managed policies, who may change membership labels. */
export const MANAGED_POLICIES_RESOURCE = 'managednetworkpolicies';
export const MEMBERSHIP_RESOURCE = 'namespacememberships';

const API = 'admissionregistration.k8s.io/v1';
const PART_OF = { 'app.kubernetes.io/name': 'tenant-isolation-operator', 'app.kubernetes.io/part-of': 'tenant-isolation-operator' };

type Obj = Record<string, unknown>;

const policy = (name: string, spec: Obj): Obj => ({ apiVersion: API, kind: 'ValidatingAdmissionPolicy', metadata: { name, labels: PART_OF }, spec });
const podsCreated = { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }] };
const hasLabel = (o: string, key: string, value: string): string =>
  `has(${o}.metadata.labels) && '${key}' in ${o}.metadata.labels && ${o}.metadata.labels['${key}'] == '${value}'`;

/** The policies, and the bindings that do not depend on tenants. */
export function staticAdmissionObjects(): Obj[] {
  const managed = (o: string): string => `${o} != null && (${o}.metadata.name.startsWith('${RESERVED_POLICY_PREFIX}') || (${hasLabel(o, LABEL_MANAGED_BY, OPERATOR_NAME)}))`;
  const gate = policy(POD_GATE, {
    failurePolicy: 'Fail',
    paramKind: { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' },
    matchConstraints: podsCreated,
    validations: [{
      // The param was found (else the binding's parameterNotFoundAction denies); it must be the operator's.
      expression: `${hasLabel('params', LABEL_MANAGED_BY, OPERATOR_NAME)} && has(params.metadata.ownerReferences) && params.metadata.ownerReferences.exists(r, r.kind == '${KIND}' && r.apiVersion.startsWith('${GROUP}/') && has(r.controller) && r.controller)`,
      messageExpression: `'NetworkPolicy ${POLICY_DEFAULT_DENY} in namespace ' + namespaceObject.metadata.name + ' was not written by ${OPERATOR_NAME}: pods of this tenant wait until its default-deny is in place'`,
      reason: 'Forbidden',
    }],
  });
  const audit = policy(AUDIT_NOTICE, {
    // A notice, never a refusal.
    failurePolicy: 'Ignore',
    paramKind: { apiVersion: API_VERSION, kind: KIND },
    matchConstraints: podsCreated,
    validations: [{
      // The binding exists only for tenants whose effective mode is Audit; the mode may be inherited from a
      // profile (absent here): only an explicit Enforce, the moment after a switch, silences the notice.
      expression: `has(params.spec.mode) && params.spec.mode == 'Enforce'`,
      messageExpression: `'namespace ' + namespaceObject.metadata.name + ' belongs to TenantIsolation ' + params.metadata.name + ' in Audit mode: nothing isolates this pod; in Enforce mode it would wait until the namespace holds ${POLICY_DEFAULT_DENY}'`,
    }],
  });
  const guard = policy(MANAGED_POLICIES_GUARD, {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: [{ apiGroups: ['networking.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['networkpolicies'] }] },
    matchConditions: [
      { name: 'touches-a-managed-policy', expression: `[object, oldObject].exists(o, ${managed('o')})` },
      { name: 'not-allowed-to', expression: `!authorizer.group('${GROUP}').resource('${MANAGED_POLICIES_RESOURCE}').check(request.operation == 'DELETE' ? 'delete' : 'update').allowed()` },
    ],
    validations: [{
      expression: 'false',
      messageExpression: `'NetworkPolicy ' + (object != null ? object : oldObject).metadata.name + ' is managed by ${OPERATOR_NAME} (a ${RESERVED_POLICY_PREFIX}* name or its ${LABEL_MANAGED_BY} label): only the operator may ' + request.operation.lowerAscii() + ' it; name your own policies differently'`,
      reason: 'Forbidden',
    }],
  });
  // The keys a tenant's selector reads; kubernetes.io/metadata.name is immutable anyway.
  const keys = 'variables.keys';
  const membership = policy(MEMBERSHIP_GUARD, {
    failurePolicy: 'Fail',
    paramKind: { apiVersion: API_VERSION, kind: KIND },
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: ['namespaces'] }] },
    matchConditions: [
      { name: 'not-a-membership-editor', expression: `!authorizer.group('${GROUP}').resource('${MEMBERSHIP_RESOURCE}').check('update').allowed()` },
    ],
    variables: [
      {
        name: 'keys',
        expression: '!has(params.spec.namespaceSelector) ? [] : '
          + '(has(params.spec.namespaceSelector.matchLabels) ? params.spec.namespaceSelector.matchLabels.map(k, k) : []) + '
          + `(has(params.spec.namespaceSelector.matchExpressions) ? params.spec.namespaceSelector.matchExpressions.map(e, e.key) : [])`,
      },
      {
        name: 'changed',
        expression: `${keys}.filter(k, k != '${LABEL_NAMESPACE_NAME}' && `
          + '((has(oldObject.metadata.labels) && k in oldObject.metadata.labels) != (has(object.metadata.labels) && k in object.metadata.labels) '
          + '|| (has(oldObject.metadata.labels) && k in oldObject.metadata.labels && has(object.metadata.labels) && k in object.metadata.labels && oldObject.metadata.labels[k] != object.metadata.labels[k])))',
      },
    ],
    validations: [{
      expression: 'size(variables.changed) == 0',
      messageExpression: `'label ' + variables.changed.join(', ') + ' decides which namespaces TenantIsolation ' + params.metadata.name + ' claims: changing it needs update on ${MEMBERSHIP_RESOURCE}.${GROUP} (ClusterRole tenant-isolation-membership-editor)'`,
      reason: 'Forbidden',
    }],
  });
  const binding = (name: string, spec: Obj): Obj => ({ apiVersion: API, kind: 'ValidatingAdmissionPolicyBinding', metadata: { name, labels: PART_OF }, spec });
  return [
    gate, audit, guard, membership,
    binding(MANAGED_POLICIES_GUARD, { policyName: MANAGED_POLICIES_GUARD, validationActions: ['Deny'] }),
    // Every TenantIsolation is a param: each one's selector keys are guarded.
    binding(MEMBERSHIP_GUARD, { policyName: MEMBERSHIP_GUARD, validationActions: ['Deny'], paramRef: { selector: {}, parameterNotFoundAction: 'Allow' } }),
  ];
}

export interface AdmissionBinding {
  apiVersion: typeof API;
  kind: 'ValidatingAdmissionPolicyBinding';
  metadata: { name: string; labels: Record<string, string>; ownerReferences: OwnerReference[]; resourceVersion?: string };
  spec: {
    policyName: string;
    paramRef: { name: string; parameterNotFoundAction: 'Deny' | 'Allow' };
    matchResources: { namespaceSelector: LabelSelector };
    validationActions: ('Deny' | 'Warn' | 'Audit')[];
  };
}

/** How a tenant's namespaces are found: its selector, and its explicit names. */
export interface TenantClaims { name: string; uid: string; mode: 'Enforce' | 'Audit'; defaultDeny: boolean; namespaceSelector: LabelSelector | undefined; namespaces: readonly string[] }

export const claimsOf = (t: ValidTenant): TenantClaims => ({
  name: t.name, uid: t.uid, mode: t.spec.mode, defaultDeny: t.spec.defaultDeny.ingress || t.spec.defaultDeny.egress,
  namespaceSelector: t.spec.namespaceSelector, namespaces: t.spec.namespaces,
});

/**
 * The bindings that gate pods in a tenant's namespaces: one per way the tenant names them (selector,
 * explicit names), never matching a reserved namespace. A tenant whose spec declares no default-deny
 * asks for no isolation and gets no gate (its pods would wait for ever).
 */
export function tenantBindings(t: TenantClaims, reserved: readonly string[]): AdmissionBinding[] {
  if (t.mode === 'Enforce' && !t.defaultDeny) return [];
  const notReserved = reserved.length > 0 ? [{ key: LABEL_NAMESPACE_NAME, operator: 'NotIn' as const, values: [...reserved].sort() }] : [];
  const selectors: [string, LabelSelector][] = [];
  if (t.namespaceSelector) {
    selectors.push(['by-selector', { ...t.namespaceSelector, matchExpressions: [...(t.namespaceSelector.matchExpressions ?? []), ...notReserved] }]);
  }
  const names = t.namespaces.filter((n) => !reserved.includes(n));
  if (names.length > 0) selectors.push(['by-name', { matchExpressions: [{ key: LABEL_NAMESPACE_NAME, operator: 'In', values: [...names].sort() }] }]);
  const owner: OwnerReference = { apiVersion: API_VERSION, kind: KIND, name: t.name, uid: t.uid, controller: true, blockOwnerDeletion: true };
  const labels = { [LABEL_MANAGED_BY]: OPERATOR_NAME, [LABEL_TENANT]: t.name };
  return selectors.map(([how, namespaceSelector]): AdmissionBinding => (t.mode === 'Enforce'
    ? {
      apiVersion: API, kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: `${POD_GATE}.${how}.${t.name}`, labels, ownerReferences: [owner] },
      spec: { policyName: POD_GATE, paramRef: { name: POLICY_DEFAULT_DENY, parameterNotFoundAction: 'Deny' }, matchResources: { namespaceSelector }, validationActions: ['Deny'] },
    }
    : {
      apiVersion: API, kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: `${AUDIT_NOTICE}.${how}.${t.name}`, labels, ownerReferences: [owner] },
      spec: { policyName: AUDIT_NOTICE, paramRef: { name: t.name, parameterNotFoundAction: 'Allow' }, matchResources: { namespaceSelector }, validationActions: ['Warn', 'Audit'] },
    }));
}

/** A binding as the operator caches it: identity, its tenant, and the digest of what the operator sets. */
export interface CachedBinding {
  metadata: { name: string; resourceVersion?: string; labels?: Readonly<Record<string, string>> };
  digest: string;
}

/**
 * What the operator sets in a binding, and only that (the apiserver adds defaults such as
 * matchResources.matchPolicy): equal digests mean no write.
 */
export function bindingDigest(b: { metadata: { labels?: Readonly<Record<string, string>>; ownerReferences?: readonly OwnerReference[] }; spec?: unknown }): string {
  const spec = (b.spec ?? {}) as Partial<AdmissionBinding['spec']>;
  const owned = {
    tenant: b.metadata.labels?.[LABEL_TENANT], managedBy: b.metadata.labels?.[LABEL_MANAGED_BY],
    owners: (b.metadata.ownerReferences ?? []).map(({ apiVersion, kind, name, uid, controller, blockOwnerDeletion }) => ({ apiVersion, kind, name, uid, controller, blockOwnerDeletion })),
    policyName: spec.policyName,
    paramRef: spec.paramRef && { name: spec.paramRef.name, parameterNotFoundAction: spec.paramRef.parameterNotFoundAction },
    namespaceSelector: spec.matchResources?.namespaceSelector,
    validationActions: spec.validationActions,
  };
  return createHash('sha1').update(JSON.stringify(canonical(owned))).digest('base64');
}

export function compactBinding(b: AdmissionBinding | CachedBinding): CachedBinding {
  if ('digest' in b) return b;
  const labels: Record<string, string> = {};
  const t = (b.metadata.labels as Readonly<Record<string, string>> | undefined)?.[LABEL_TENANT];
  if (t !== undefined) labels[LABEL_TENANT] = t;
  return { metadata: { name: b.metadata.name, resourceVersion: b.metadata.resourceVersion, labels }, digest: bindingDigest(b) };
}

/**
 * What is missing of the gate for these tenants, as sentences (empty: complete): the static policies and
 * bindings, and each tenant's pod-gate bindings by name.
 */
export function missingGate(tenants: readonly TenantClaims[], reserved: readonly string[], policies: ReadonlySet<string>, bindings: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const p of [POD_GATE, AUDIT_NOTICE, MANAGED_POLICIES_GUARD, MEMBERSHIP_GUARD]) if (!policies.has(p)) out.push(`ValidatingAdmissionPolicy ${p} is not installed (config/admission)`);
  for (const b of [MANAGED_POLICIES_GUARD, MEMBERSHIP_GUARD]) if (!bindings.has(b)) out.push(`ValidatingAdmissionPolicyBinding ${b} is not installed (config/admission)`);
  for (const t of tenants) {
    for (const b of tenantBindings(t, reserved)) if (!bindings.has(b.metadata.name)) out.push(`TenantIsolation ${t.name}: binding ${b.metadata.name} is missing (the operator writes it)`);
  }
  return out;
}
