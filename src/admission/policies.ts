// The admission gate: in-tree ValidatingAdmissionPolicies (CEL run by the apiserver itself: no webhook
// server, no certificates, nothing that fails open when the operator is down). Pure: the static policies
// and their bindings are generated from here into config/admission/ (hack/generate.ts); the pod-gate
// bindings, which follow the tenants, are written by the operator from gateBindings().
//   pod gate           a Pod in a namespace claimed by an enforcing tenant is refused until the operator has
//                      stored that namespace's policies and labelled it isolation.tenancy.dev/isolated=true;
//                      Audit tenants get a warning instead (kubectl prints it) and an audit annotation
//   managed policies   nobody without isolation.tenancy.dev/managednetworkpolicies (the operator; the
//                      namespace and garbage-collector controllers for deletes; cluster-admins) may create,
//                      change or delete a tenant-isolation-* policy or one with the operator's label
//   membership         changing a namespace label that a tenant's selector reads needs
//                      isolation.tenancy.dev/namespacememberships update (ClusterRole
//                      tenant-isolation-membership-editor); the keys come from one ConfigMap the operator
//                      keeps (tenant-isolation-membership-keys), so the cost does not grow with tenants
//   membership keys    only the operator writes that ConfigMap
//   operator labels    only holders of namespacememberships/label (the operator) may set, change or remove
//                      a namespace label under isolation.tenancy.dev/ (isolated, member-of)
//   operator's writes  the operator's own ServiceAccount, granted patch on every namespace, may change
//                      nothing on a namespace but those labels (least privilege RBAC cannot express)
// The pod-gate bindings are few whatever the number of tenants: the apiserver matches every binding's
// selector against every new pod's namespace (measured: about 16 us a binding), so tenants whose selector
// is one label pair share one binding per label key, explicit names share one, and only tenants with other
// selectors get one of their own.
import { createHash } from 'node:crypto';
import { GROUP } from '../api/schema.ts';
import type { LabelSelector, ValidTenant } from '../api/schema.ts';
import { canonicalJson } from '../policy/diff.ts';
import { LABEL_ISOLATED, LABEL_MANAGED_BY, LABEL_NAMESPACE_NAME, OPERATOR_LABEL_PREFIX, OPERATOR_NAME, RESERVED_POLICY_PREFIX } from '../policy/labels.ts';
import type { OwnerReference } from '../policy/types.ts';
export const POD_GATE = 'tenant-isolation-pod-gate';
export const AUDIT_NOTICE = 'tenant-isolation-audit-notice';
export const MANAGED_POLICIES_GUARD = 'tenant-isolation-managed-policies';
export const MEMBERSHIP_GUARD = 'tenant-isolation-membership';
export const MEMBER_LABEL_GUARD = 'tenant-isolation-member-label';
export const MEMBERSHIP_KEYS_GUARD = 'tenant-isolation-membership-keys';
export const OPERATOR_WRITES_GUARD = 'tenant-isolation-operator-namespace-writes';
/** The operator's ServiceAccount as the apiserver names its requests (config/rbac, the chart). */
export const operatorUser = (namespace: string): string => `system:serviceaccount:${namespace}:${OPERATOR_NAME}`;
/**
 * Where a namespace's labels can be written: the status and finalize subresources keep the labels of the
 * object they are sent (the apiserver resets only spec, or only status), so a rule on `namespaces` alone
 * would let anyone allowed to update either one forge the operator's labels or move a namespace between
 * tenants.
 */
const NAMESPACE_WRITES = ['namespaces', 'namespaces/status', 'namespaces/finalize'];
/** The membership guard's one param: a ConfigMap in the operator's namespace, kept by the operator. */
export const MEMBERSHIP_KEYS = 'tenant-isolation-membership-keys';
/** Its data field: the guarded label keys, sorted, comma-joined. */
export const MEMBERSHIP_KEYS_FIELD = 'labelKeys';
/** Where config/ installs the operator (the chart: its release namespace). */
export const DEFAULT_OPERATOR_NAMESPACE = 'tenant-isolation-system';
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
export function staticAdmissionObjects(namespace: string = DEFAULT_OPERATOR_NAMESPACE): Obj[] {
  const managed = (o: string): string => `${o} != null && (${o}.metadata.name.startsWith('${RESERVED_POLICY_PREFIX}') || (${hasLabel(o, LABEL_MANAGED_BY, OPERATOR_NAME)}))`;
  const isolated = `has(namespaceObject.metadata.labels) && '${LABEL_ISOLATED}' in namespaceObject.metadata.labels && namespaceObject.metadata.labels['${LABEL_ISOLATED}'] == 'true'`;
  // What claims the namespace, as far as CEL can tell: its own labels (a shared binding names no tenant).
  const claim = `(has(namespaceObject.metadata.labels) ? namespaceObject.metadata.labels.filter(k, k != '${LABEL_NAMESPACE_NAME}' && !k.startsWith('${OPERATOR_LABEL_PREFIX}')).map(k, k + '=' + namespaceObject.metadata.labels[k]).join(', ') : '')`;
  const gate = policy(POD_GATE, {
    failurePolicy: 'Fail',
    matchConstraints: podsCreated,
    validations: [{
      expression: isolated,
      messageExpression: `'namespace ' + namespaceObject.metadata.name + ' (' + ${claim} + ') belongs to an enforcing TenantIsolation and is not isolated yet: pods wait until ${OPERATOR_NAME} has stored its NetworkPolicies there (it then labels the namespace ${LABEL_ISOLATED}=true)'`,
      reason: 'Forbidden',
    }],
  });
  const audit = policy(AUDIT_NOTICE, {
    // A notice, never a refusal.
    failurePolicy: 'Ignore',
    matchConstraints: podsCreated,
    validations: [{
      expression: isolated,
      messageExpression: `'namespace ' + namespaceObject.metadata.name + ' (' + ${claim} + ') belongs to a TenantIsolation in Audit mode: nothing isolates this pod; in Enforce mode it would wait until the namespace is isolated'`,
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
  // The keys tenants' selectors read, as the operator keeps them in its ConfigMap (membershipKeysConfigMap).
  const keys = `(has(params.data) && '${MEMBERSHIP_KEYS_FIELD}' in params.data && params.data['${MEMBERSHIP_KEYS_FIELD}'] != '' ? params.data['${MEMBERSHIP_KEYS_FIELD}'].split(',') : [])`;
  const membership = policy(MEMBERSHIP_GUARD, {
    failurePolicy: 'Fail',
    paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['UPDATE'], resources: NAMESPACE_WRITES }] },
    matchConditions: [
      { name: 'not-a-membership-editor', expression: `!authorizer.group('${GROUP}').resource('${MEMBERSHIP_RESOURCE}').check('update').allowed()` },
    ],
    variables: [
      {
        name: 'changed',
        expression: `${keys}.filter(k, `
          + '(has(oldObject.metadata.labels) && k in oldObject.metadata.labels) != (has(object.metadata.labels) && k in object.metadata.labels) '
          + '|| (has(oldObject.metadata.labels) && k in oldObject.metadata.labels && has(object.metadata.labels) && k in object.metadata.labels && oldObject.metadata.labels[k] != object.metadata.labels[k]))',
      },
    ],
    validations: [{
      expression: 'size(variables.changed) == 0',
      messageExpression: `'label ' + variables.changed.join(', ') + ' decides which namespaces a TenantIsolation claims: changing it needs update on ${MEMBERSHIP_RESOURCE}.${GROUP} (ClusterRole tenant-isolation-membership-editor)'`,
      reason: 'Forbidden',
    }],
  });
  // The keys ConfigMap is the operator's: a smaller list would unguard a key.
  const keysGuard = policy(MEMBERSHIP_KEYS_GUARD, {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['configmaps'], resourceNames: [MEMBERSHIP_KEYS] }] },
    matchConditions: [
      { name: 'not-the-operator', expression: `!authorizer.group('${GROUP}').resource('${MEMBERSHIP_RESOURCE}').subresource('label').check(request.operation == 'DELETE' ? 'delete' : 'update').allowed()` },
    ],
    validations: [{
      expression: 'false',
      messageExpression: `'ConfigMap ${MEMBERSHIP_KEYS} lists the namespace label keys that decide tenant membership (tenant-isolation-membership guards them): only ${OPERATOR_NAME} writes it'`,
      reason: 'Forbidden',
    }],
  });
  // The operator's labels differ between old and new (compared key by key: map order is not fixed).
  // `test` picks label keys: the operator's ('') or everyone else's ('!').
  const keysOf = (o: string, test = ''): string => `(has(${o}.metadata.labels) ? ${o}.metadata.labels.filter(k, ${test}k.startsWith('${OPERATOR_LABEL_PREFIX}')) : [])`;
  const has = (o: string, k: string): string => `(has(${o}.metadata.labels) && ${k} in ${o}.metadata.labels)`;
  const labelsUnchanged = (test = ''): string =>
    `${keysOf('object', test)}.all(k, ${has('oldObject', 'k')} && oldObject.metadata.labels[k] == object.metadata.labels[k]) && ${keysOf('oldObject', test)}.all(k, ${has('object', 'k')})`;
  const unchanged = labelsUnchanged();
  const memberLabel = policy(MEMBER_LABEL_GUARD, {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: NAMESPACE_WRITES }] },
    matchConditions: [
      { name: 'changes-an-operator-label', expression: `oldObject == null ? size(${keysOf('object')}) > 0 : !(${unchanged})` },
      { name: 'not-the-operator', expression: `!authorizer.group('${GROUP}').resource('${MEMBERSHIP_RESOURCE}').subresource('label').check('update').allowed()` },
    ],
    validations: [{
      expression: 'false',
      messageExpression: `'namespace labels under ${OPERATOR_LABEL_PREFIX} (${LABEL_ISOLATED}, member-of) say what ${OPERATOR_NAME} has isolated: only it sets them'`,
      reason: 'Forbidden',
    }],
  });
  // The operator's own writes on namespaces: RBAC grants it patch on every namespace, so a bug (or a
  // stolen token used through the namespace API alone) could otherwise drop a namespace's Pod Security
  // labels, add a finalizer, or an owner reference the garbage collector would delete it for. It may
  // change its labels only: every other label, the annotations, the finalizers, the owner references and
  // the spec stay as they were. (It may also write admission bindings, for the pod gate: removing this
  // one is detected, not prevented; docs/security.md.)
  const same = (field: string): string => `has(object.${field}) == has(oldObject.${field}) && (!has(object.${field}) || object.${field} == oldObject.${field})`;
  const operatorWrites = policy(OPERATOR_WRITES_GUARD, {
    failurePolicy: 'Fail',
    matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: NAMESPACE_WRITES }] },
    matchConditions: [{ name: 'is-the-operator', expression: `request.userInfo.username == '${operatorUser(namespace)}'` }],
    validations: [{
      // request.subResource is absent (not '') for the namespace itself.
      expression: `request.operation == 'UPDATE' && (!has(request.subResource) || request.subResource == '') && ${labelsUnchanged('!')} && ${same('metadata.annotations')} && ${same('metadata.finalizers')} && ${same('metadata.ownerReferences')} && ${same('spec')}`,
      message: `${OPERATOR_NAME} may change only its own labels (${OPERATOR_LABEL_PREFIX}*) on a namespace: not other labels, annotations, finalizers, owner references or the spec, and no create, delete, status or finalize`,
      reason: 'Forbidden',
    }],
  });
  const binding = (name: string, spec: Obj): Obj => ({ apiVersion: API, kind: 'ValidatingAdmissionPolicyBinding', metadata: { name, labels: PART_OF }, spec });
  return [
    gate, audit, guard, membership, memberLabel, keysGuard, operatorWrites,
    binding(MANAGED_POLICIES_GUARD, { policyName: MANAGED_POLICIES_GUARD, validationActions: ['Deny'] }),
    binding(MEMBER_LABEL_GUARD, { policyName: MEMBER_LABEL_GUARD, validationActions: ['Deny'] }),
    binding(OPERATOR_WRITES_GUARD, { policyName: OPERATOR_WRITES_GUARD, validationActions: ['Deny'] }),
    // One param, the operator's list of the keys tenants select by. Allow, not Deny, when it is missing:
    // kube-apiserver <= 1.37 stops its informer for a built-in paramKind for good once no binding names
    // that kind (kubernetes#130887), so after the gate is removed and installed again without an apiserver
    // restart the ConfigMap can stay "missing" forever, and Deny would then refuse every namespace update
    // in the cluster, cluster-admins' included (docs/security.md). Only a cluster-admin can delete it
    // otherwise (tenant-isolation-membership-keys guard), and the operator re-creates it at once.
    binding(MEMBERSHIP_GUARD, { policyName: MEMBERSHIP_GUARD, validationActions: ['Deny'], paramRef: { name: MEMBERSHIP_KEYS, namespace, parameterNotFoundAction: 'Allow' } }),
    // Only in the operator's namespace: a ConfigMap of that name elsewhere is nobody's business.
    binding(MEMBERSHIP_KEYS_GUARD, { policyName: MEMBERSHIP_KEYS_GUARD, validationActions: ['Deny'], matchResources: { namespaceSelector: { matchLabels: { [LABEL_NAMESPACE_NAME]: namespace } } } }),
    membershipKeysConfigMap(namespace),
  ];
}

/**
 * The label keys that decide membership: every key any TenantIsolation's namespaceSelector reads, from the
 * objects as stored (an invalid or terminating tenant's keys too: its claims still fail closed), without
 * kubernetes.io/metadata.name (immutable anyway). Sorted, unique.
 */
export function membershipKeys(tenants: Iterable<{ spec?: unknown }>): string[] {
  const out = new Set<string>();
  for (const t of tenants) {
    const sel = (t.spec as { namespaceSelector?: { matchLabels?: unknown; matchExpressions?: unknown } } | undefined)?.namespaceSelector;
    if (!sel || typeof sel !== 'object') continue;
    if (sel.matchLabels && typeof sel.matchLabels === 'object') for (const k of Object.keys(sel.matchLabels)) out.add(k);
    if (Array.isArray(sel.matchExpressions)) for (const e of sel.matchExpressions as unknown[]) {
      const k = (e as { key?: unknown } | null)?.key;
      if (typeof k === 'string') out.add(k);
    }
  }
  out.delete(LABEL_NAMESPACE_NAME);
  out.delete('');
  return [...out].sort();
}

/** The labelKeys value of the ConfigMap: comma-joined (label keys hold '/', so they cannot be data keys, and never ','). */
export const membershipKeysValue = (keys: readonly string[]): string => keys.join(',');

/**
 * The membership guard's param. Shipped without data (kubectl apply and helm upgrade then never take the
 * keys back: the operator's server-side apply owns data); the operator writes data.labelKeys.
 */
export function membershipKeysConfigMap(namespace: string, keys?: readonly string[]): Obj {
  return {
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: MEMBERSHIP_KEYS, namespace, labels: PART_OF },
    ...(keys ? { data: { [MEMBERSHIP_KEYS_FIELD]: membershipKeysValue(keys) } } : {}),
  };
}

export interface AdmissionBinding {
  apiVersion: typeof API;
  kind: 'ValidatingAdmissionPolicyBinding';
  metadata: { name: string; labels: Record<string, string>; ownerReferences?: OwnerReference[]; resourceVersion?: string; managedFields?: readonly { time?: string }[] };
  spec: {
    policyName: string;
    matchResources: { namespaceSelector: LabelSelector };
    validationActions: ('Deny' | 'Warn' | 'Audit')[];
  };
}

/** How a tenant's namespaces are found: its selector, and its explicit names. */
export interface TenantClaims { name: string; mode: 'Enforce' | 'Audit'; defaultDeny: boolean; namespaceSelector: LabelSelector | undefined; namespaces: readonly string[] }

export const claimsOf = (t: ValidTenant): TenantClaims => ({
  name: t.name, mode: t.spec.mode, defaultDeny: t.spec.defaultDeny.ingress || t.spec.defaultDeny.egress,
  namespaceSelector: t.spec.namespaceSelector, namespaces: t.spec.namespaces,
});

/** The policy a tenant's namespaces are bound to: none for a tenant that declares no default-deny. */
export const gatePolicyOf = (t: TenantClaims): typeof POD_GATE | typeof AUDIT_NOTICE | undefined =>
  t.mode === 'Audit' ? AUDIT_NOTICE : t.defaultDeny ? POD_GATE : undefined;

/** The one label pair a tenant's selector is made of, if that is all it is (most tenants: `tenant: acme`). */
function singlePair(sel: LabelSelector | undefined): [string, string] | undefined {
  const pairs = Object.entries(sel?.matchLabels ?? {});
  return pairs.length === 1 && (sel?.matchExpressions ?? []).length === 0 ? pairs[0] : undefined;
}

const slugOf = (key: string): string => `${key.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '').slice(0, 60)}-${createHash('sha1').update(key).digest('hex').slice(0, 6)}`;
/** Label keys are few and every tenant status asks for its key's slug: computed once per key. */
const slugs = new Map<string, string>();
const slug = (key: string): string => {
  let s = slugs.get(key);
  if (s === undefined) { if (slugs.size >= 4096) slugs.clear(); s = slugOf(key); slugs.set(key, s); }
  return s;
};

/** The names of the bindings that gate a tenant's namespaces (`reserved` ones are never members: no binding names them). */
export function bindingsCovering(t: TenantClaims, reserved: readonly string[] = []): string[] {
  const policy = gatePolicyOf(t);
  if (!policy) return [];
  const out: string[] = [];
  const pair = singlePair(t.namespaceSelector);
  if (pair) out.push(`${policy}.label.${slug(pair[0])}`);
  else if (t.namespaceSelector) out.push(`${policy}.tenant.${t.name}`);
  if (t.namespaces.some((n) => !reserved.includes(n))) out.push(`${policy}.names`);
  return out;
}

/**
 * The pod-gate bindings for every tenant (valid ones, and invalid ones through the claims they still
 * make): one per label key for single-pair selectors, one for explicit names, one per other selector;
 * each for the pod gate or, for Audit tenants, the audit notice. Never matching a reserved namespace.
 * `owners` are the policies' uids: a binding is owned by its policy, so removing the policy removes it.
 */
export function gateBindings(tenants: readonly TenantClaims[], reserved: readonly string[], owners: ReadonlyMap<string, string>): AdmissionBinding[] {
  const notReserved = reserved.length > 0 ? [{ key: LABEL_NAMESPACE_NAME, operator: 'NotIn' as const, values: [...reserved].sort() }] : [];
  const selectors = new Map<string, { policy: string; selector: LabelSelector }>();
  const byKey = new Map<string, Set<string>>();
  const names = new Map<string, Set<string>>();
  for (const t of [...tenants].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const policy = gatePolicyOf(t);
    if (!policy) continue;
    const pair = singlePair(t.namespaceSelector);
    if (pair) {
      const k = `${policy}.label.${slug(pair[0])}`;
      if (!byKey.has(k)) { byKey.set(k, new Set()); selectors.set(k, { policy, selector: { matchExpressions: [{ key: pair[0], operator: 'In', values: [] }, ...notReserved] } }); }
      byKey.get(k)!.add(pair[1]);
    } else if (t.namespaceSelector) {
      selectors.set(`${policy}.tenant.${t.name}`, { policy, selector: { ...t.namespaceSelector, matchExpressions: [...(t.namespaceSelector.matchExpressions ?? []), ...notReserved] } });
    }
    const own = t.namespaces.filter((n) => !reserved.includes(n));
    if (own.length > 0) {
      const k = `${policy}.names`;
      if (!names.has(k)) names.set(k, new Set());
      for (const n of own) names.get(k)!.add(n);
    }
  }
  for (const [k, values] of byKey) selectors.get(k)!.selector.matchExpressions![0]!.values = [...values].sort();
  for (const [k, ns] of names) selectors.set(k, { policy: k.slice(0, k.indexOf('.')), selector: { matchExpressions: [{ key: LABEL_NAMESPACE_NAME, operator: 'In', values: [...ns].sort() }] } });
  const labels = { [LABEL_MANAGED_BY]: OPERATOR_NAME, ...PART_OF };
  return [...selectors].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, { policy, selector }]): AdmissionBinding => {
    const uid = owners.get(policy);
    return {
      apiVersion: API, kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels, ...(uid ? { ownerReferences: [{ apiVersion: API, kind: 'ValidatingAdmissionPolicy', name: policy, uid }] } : {}) },
      spec: { policyName: policy, matchResources: { namespaceSelector: selector }, validationActions: policy === POD_GATE ? ['Deny'] : ['Warn', 'Audit'] },
    };
  });
}

/** A binding as the operator caches it: identity, the digest of what the operator sets, and its selector. */
export interface CachedBinding {
  metadata: { name: string; resourceVersion?: string; labels?: Readonly<Record<string, string>> };
  digest: string;
  /** The namespace selector (bindings are few): which tenants it covers. */
  selector: LabelSelector | undefined;
  /**
   * When the apiserver last stored a write to it (ms since the epoch, from its managedFields: whole
   * seconds, so up to a second early); undefined when it does not say.
   */
  writtenAt?: number;
}

/**
 * What the operator sets in a binding, and only that (the apiserver adds defaults such as
 * matchResources.matchPolicy): equal digests mean no write.
 */
export function bindingDigest(b: { metadata: { labels?: Readonly<Record<string, string>>; ownerReferences?: readonly OwnerReference[] }; spec?: unknown }): string {
  const spec = (b.spec ?? {}) as Partial<AdmissionBinding['spec']>;
  const owned = {
    managedBy: b.metadata.labels?.[LABEL_MANAGED_BY],
    owners: (b.metadata.ownerReferences ?? []).map(({ apiVersion, kind, name, uid, controller, blockOwnerDeletion }) => ({ apiVersion, kind, name, uid, controller, blockOwnerDeletion })),
    policyName: spec.policyName,
    namespaceSelector: spec.matchResources?.namespaceSelector,
    validationActions: spec.validationActions,
  };
  return createHash('sha1').update(canonicalJson(owned)).digest('base64');
}

export function compactBinding(b: AdmissionBinding | CachedBinding): CachedBinding {
  if ('digest' in b) return b;
  const labels: Record<string, string> = {};
  const m = (b.metadata.labels as Readonly<Record<string, string>> | undefined)?.[LABEL_MANAGED_BY];
  if (m !== undefined) labels[LABEL_MANAGED_BY] = m;
  const times = (b.metadata.managedFields ?? []).map((f) => Date.parse(f.time ?? '')).filter((t) => Number.isFinite(t));
  return {
    metadata: { name: b.metadata.name, resourceVersion: b.metadata.resourceVersion, labels }, digest: bindingDigest(b), selector: b.spec.matchResources?.namespaceSelector,
    ...(times.length > 0 ? { writtenAt: Math.max(...times) } : {}),
  };
}

/**
 * Whether a stored binding (its selector) gates the namespaces of a tenant it is meant to cover: its label
 * value or its names are listed (a shared binding), or it is the tenant's own selector.
 */
export function covers(binding: string, selector: LabelSelector | undefined, t: TenantClaims, reserved: readonly string[] = []): boolean {
  if (!selector || !bindingsCovering(t, reserved).includes(binding)) return false;
  if (binding.endsWith('.names')) {
    const listed = selector.matchExpressions?.[0]?.values ?? [];
    return t.namespaces.every((n) => listed.includes(n) || reserved.includes(n));
  }
  const pair = singlePair(t.namespaceSelector);
  if (pair) return (selector.matchExpressions?.[0]?.values ?? []).includes(pair[1]);
  // The tenant's own binding: its whole selector, then only the reserved-name exclusion gateBindings adds
  // (expressions too: an edit of an expression's values is not in force until the binding says so).
  const own = (t.namespaceSelector?.matchExpressions ?? []).map(requirement);
  const stored = (selector.matchExpressions ?? []).map(requirement);
  return canonicalJson(selector.matchLabels ?? {}) === canonicalJson(t.namespaceSelector?.matchLabels ?? {})
    && canonicalJson(stored.slice(0, own.length)) === canonicalJson(own)
    && stored.slice(own.length).every((r) => r.key === LABEL_NAMESPACE_NAME && r.operator === 'NotIn');
}

/** A selector requirement as the apiserver returns it: no values is the same as an empty list. */
const requirement = (r: { key: string; operator: string; values?: readonly string[] }): { key: string; operator: string; values: readonly string[] } =>
  ({ key: r.key, operator: r.operator, values: r.values ?? [] });

/**
 * Whether writing `wanted` over `stored` takes namespaces out of a shared binding (a label key's values, or
 * the names): such writes go after the others, so a tenant moving to another binding is never in neither.
 */
export function narrows(stored: LabelSelector | undefined, wanted: AdmissionBinding): boolean {
  const { name } = wanted.metadata;
  const policy = wanted.spec.policyName;
  if (!stored || !(name.startsWith(`${policy}.label.`) || name === `${policy}.names`)) return false;
  const next = new Set(wanted.spec.matchResources.namespaceSelector.matchExpressions?.[0]?.values ?? []);
  return (stored.matchExpressions?.[0]?.values ?? []).some((v) => !next.has(v));
}

/**
 * What is missing of the gate for these tenants, as sentences (empty: complete): the static policies and
 * bindings, and the bindings covering each tenant.
 */
export function missingGate(tenants: readonly TenantClaims[], policies: ReadonlySet<string>, bindings: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const p of [POD_GATE, AUDIT_NOTICE, MANAGED_POLICIES_GUARD, MEMBERSHIP_GUARD, MEMBER_LABEL_GUARD, MEMBERSHIP_KEYS_GUARD, OPERATOR_WRITES_GUARD]) if (!policies.has(p)) out.push(`ValidatingAdmissionPolicy ${p} is not installed (config/admission)`);
  for (const b of [MANAGED_POLICIES_GUARD, MEMBERSHIP_GUARD, MEMBER_LABEL_GUARD, MEMBERSHIP_KEYS_GUARD, OPERATOR_WRITES_GUARD]) if (!bindings.has(b)) out.push(`ValidatingAdmissionPolicyBinding ${b} is not installed (config/admission)`);
  for (const t of tenants) {
    for (const b of bindingsCovering(t)) if (!bindings.has(b)) out.push(`TenantIsolation ${t.name}: binding ${b} is missing (the operator writes it)`);
  }
  return out;
}
