// Names and labels that users and tools depend on: never rename, only add.
export const OPERATOR_NAME = 'tenant-isolation-operator';
export const FIELD_MANAGER = 'tenant-isolation-operator';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_TENANT = 'isolation.tenancy.dev/tenant';
/** Set on the fail-closed default-deny of a namespace that several tenants claim. */
export const ANNOTATION_CONFLICT = 'isolation.tenancy.dev/conflicting-tenants';
/**
 * Set by the operator on a tenant's member namespace once its policies are stored, and removed before
 * they are: with the admission gate installed only the operator can write it, so intra-tenant policies
 * may select it instead of listing every member by name (a join then costs the same at any tenant size).
 */
export const LABEL_MEMBER_OF = 'isolation.tenancy.dev/member-of';
/**
 * Set ("true") by the operator on a namespace once every policy it wants there is stored (a member's, or a
 * fail-closed deny), removed before they go: the pod gate admits pods in a tenant's namespace only then.
 */
export const LABEL_ISOLATED = 'isolation.tenancy.dev/isolated';
/** Labels under this prefix on namespaces are the operator's alone (the admission gate guards them). */
export const OPERATOR_LABEL_PREFIX = 'isolation.tenancy.dev/';
/** The apiserver sets this label on every namespace and nobody can change it: membership is keyed on it. */
export const LABEL_NAMESPACE_NAME = 'kubernetes.io/metadata.name';

export const POLICY_DEFAULT_DENY = 'tenant-isolation-default-deny';
export const POLICY_ALLOW_DNS = 'tenant-isolation-allow-dns';
export const POLICY_ALLOW_INTRA_TENANT = 'tenant-isolation-allow-intra-tenant';
export const POLICY_ALLOW_EXTRA = 'tenant-isolation-allow-extra';
/** Set on the cluster baseline's policies (src/policy/baseline.ts), with the IsolationBaseline's name. */
export const LABEL_BASELINE = 'isolation.tenancy.dev/baseline';
export const POLICY_BASELINE_DENY = 'tenant-isolation-baseline-deny';
export const POLICY_BASELINE_ALLOW_DNS = 'tenant-isolation-baseline-allow-dns';
export const POLICY_BASELINE_ALLOW_SAME_NAMESPACE = 'tenant-isolation-baseline-allow-same-namespace';
export const BASELINE_POLICY_NAMES = [POLICY_BASELINE_DENY, POLICY_BASELINE_ALLOW_DNS, POLICY_BASELINE_ALLOW_SAME_NAMESPACE] as const;
export const MANAGED_POLICY_NAMES = [POLICY_DEFAULT_DENY, POLICY_ALLOW_DNS, POLICY_ALLOW_INTRA_TENANT, POLICY_ALLOW_EXTRA, ...BASELINE_POLICY_NAMES] as const;
export const MANAGED_SELECTOR = `${LABEL_MANAGED_BY}=${OPERATOR_NAME}`;
/** Every policy name with this prefix is reserved for the operator in every namespace (the admission gate enforces it). */
export const RESERVED_POLICY_PREFIX = 'tenant-isolation-';
