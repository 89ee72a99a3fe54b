// The TenantIsolation API as one zod schema: the operator's types are inferred from it, and
// test/unit/crd-schema.test.ts checks that crds/ describes the same fields. The operator re-validates
// every object it reads with it (the CRD may be older or newer than this binary).
import { z } from 'zod';
import { isValidCidr, cidrContains, parseCidr } from '../net/cidr.ts';

export const GROUP = 'isolation.tenancy.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TenantIsolation';
export const PLURAL = 'tenantisolations';
export const FINALIZER = `${GROUP}/policies`;

// Kubernetes label syntax (apimachinery validation.IsQualifiedName / IsValidLabelValue).
const NAME_63 = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// validation.IsValidPortName: 1-15 chars, a letter, no leading/trailing or double hyphen. The CRD checks
// the pattern only; the double hyphen is caught here (InvalidSpec) before a NetworkPolicy write would fail.
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export const labelKey = z.string().refine((k) => {
  const i = k.lastIndexOf('/');
  const prefix = i >= 0 ? k.slice(0, i) : undefined;
  const name = i >= 0 ? k.slice(i + 1) : k;
  return NAME_63.test(name) && (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
}, 'must be a qualified label key: [prefix/]name, name of 1-63 alphanumerics, -, _ or .');
export const labelValue = z.string().refine((v) => v === '' || NAME_63.test(v), 'must be a label value: up to 63 alphanumerics, -, _ or .');

export const labelSelectorRequirement = z.strictObject({
  key: labelKey,
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(labelValue).optional(),
}).superRefine((r, ctx) => {
  const n = r.values?.length ?? 0;
  if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0) ctx.addIssue({ code: 'custom', path: ['values'], message: `must be non-empty when operator is ${r.operator}` });
  if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0) ctx.addIssue({ code: 'custom', path: ['values'], message: `must be empty when operator is ${r.operator}` });
});

export const labelSelector = z.strictObject({
  matchLabels: z.record(labelKey, labelValue).optional(),
  matchExpressions: z.array(labelSelectorRequirement).optional(),
});

export const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

export const networkPort = z.strictObject({
  protocol: protocol.default('TCP'),
  port: z.union([z.number().int().min(1).max(65535), z.string().regex(IANA_SVC_NAME, 'must be a port number 1-65535 or an IANA service name')]).optional(),
  endPort: z.number().int().min(1).max(65535).optional(),
}).superRefine((p, ctx) => {
  if (p.endPort === undefined) return;
  if (typeof p.port !== 'number') ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'requires a numeric port' });
  else if (p.endPort < p.port) ctx.addIssue({ code: 'custom', path: ['endPort'], message: `must be >= port (${p.port})` });
});

const cidr = z.string().refine(isValidCidr, 'must be a CIDR such as 10.0.0.0/8 or fd00::/8');
export const ipBlock = z.strictObject({
  cidr,
  except: z.array(cidr).optional(),
}).superRefine((b, ctx) => {
  if (!isValidCidr(b.cidr)) return;
  (b.except ?? []).forEach((e, i) => {
    // Like NetworkPolicy validation: a strict subset (an except equal to cidr is refused by the apiserver).
    if (isValidCidr(e) && (!cidrContains(b.cidr, e) || parseCidr(e)!.prefix <= parseCidr(b.cidr)!.prefix)) {
      ctx.addIssue({ code: 'custom', path: ['except', i], message: `must be a strict subset of cidr ${b.cidr}` });
    }
  });
});

/** One declared extra path: a NetworkPolicyPeer plus the ports it may use. */
export const allowRule = z.strictObject({
  namespaceSelector: labelSelector.optional(),
  podSelector: labelSelector.optional(),
  ipBlock: ipBlock.optional(),
  ports: z.array(networkPort).default(() => []),
}).superRefine((r, ctx) => {
  if (r.ipBlock && (r.namespaceSelector || r.podSelector)) ctx.addIssue({ code: 'custom', path: ['ipBlock'], message: 'cannot be combined with namespaceSelector or podSelector' });
  // An entry with no peer would allow everything; say so explicitly with namespaceSelector: {} or an ipBlock.
  if (!r.ipBlock && !r.namespaceSelector && !r.podSelector) ctx.addIssue({ code: 'custom', path: [], message: 'needs one of namespaceSelector, podSelector or ipBlock' });
});

export const DEFAULT_DNS_PORTS = [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] as const;

export const tenantIsolationSpec = z.strictObject({
  namespaceSelector: labelSelector.optional(),
  namespaces: z.array(z.string().regex(DNS_LABEL, 'must be a namespace name (DNS-1123 label)')).default(() => []),
  mode: z.enum(['Enforce', 'Audit']).default('Enforce'),
  defaultDeny: z.strictObject({
    ingress: z.boolean().default(true),
    egress: z.boolean().default(true),
  }).default(() => ({ ingress: true, egress: true })),
  dns: z.strictObject({
    enabled: z.boolean().default(true),
    namespace: z.string().regex(DNS_LABEL, 'must be a namespace name').default('kube-system'),
    podSelector: labelSelector.default(() => ({ matchLabels: { 'k8s-app': 'kube-dns' } })),
    ports: z.array(networkPort).min(1).default(() => DEFAULT_DNS_PORTS.map((p) => ({ ...p }))),
    ipBlocks: z.array(ipBlock).default(() => []),
  }).default(() => ({
    enabled: true, namespace: 'kube-system', podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    ports: DEFAULT_DNS_PORTS.map((p) => ({ ...p })), ipBlocks: [],
  })),
  intraTenant: z.strictObject({ enabled: z.boolean().default(true) }).default(() => ({ enabled: true })),
  allow: z.strictObject({
    ingressFrom: z.array(allowRule).default(() => []),
    egressTo: z.array(allowRule).default(() => []),
  }).default(() => ({ ingressFrom: [], egressTo: [] })),
}).superRefine((s, ctx) => {
  const sel = s.namespaceSelector;
  if (!sel && s.namespaces.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: 'set namespaceSelector or namespaces (a tenant needs at least one way to name its namespaces)' });
  }
  // An empty selector matches every namespace, kube-system included: never what a tenant means.
  if (sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
    ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: 'must not be empty: an empty selector selects every namespace in the cluster' });
  }
});

export type LabelSelector = z.infer<typeof labelSelector>;
export type NetworkPort = z.infer<typeof networkPort>;
export type IPBlock = z.infer<typeof ipBlock>;
export type AllowRule = z.infer<typeof allowRule>;
export type TenantIsolationSpec = z.infer<typeof tenantIsolationSpec>;

export type NamespaceState = 'Isolated' | 'Pending' | 'Conflict' | 'Terminating' | 'WouldIsolate';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface NamespaceStatus { name: string; state: NamespaceState; message?: string }

export interface TenantIsolationStatus {
  observedGeneration?: number;
  /** One line for `kubectl get` (the Namespaces printer column), e.g. "3/3 isolated". */
  summary?: string;
  conditions?: Condition[];
  namespaces?: NamespaceStatus[];
}

/** The object as read from the API server: metadata is trusted only for what the apiserver sets. */
export interface TenantIsolationObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
  };
  spec?: unknown;
  status?: TenantIsolationStatus;
}

/** A tenant whose spec passed validation, with defaults applied. */
export interface ValidTenant {
  name: string;
  uid: string;
  generation: number;
  spec: TenantIsolationSpec;
}

export type ParsedTenant =
  | { ok: true; tenant: ValidTenant }
  | { ok: false; name: string; uid: string; generation: number; error: string };

/** Formats zod issues as `spec.field[0].sub: message; ...` so a user can find the offending field. */
export function formatIssues(err: z.ZodError, root = 'spec'): string {
  return err.issues.map((i) => {
    const path = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : `${acc}.${String(p)}`), root);
    return `${path}: ${i.message}`;
  }).join('; ');
}

export function parseTenant(obj: TenantIsolationObject): ParsedTenant {
  const name = obj.metadata.name;
  const uid = obj.metadata.uid;
  const generation = obj.metadata.generation ?? 0;
  if (obj.spec === undefined || obj.spec === null) return { ok: false, name, uid, generation, error: 'spec: is required' };
  // The name becomes the isolation.tenancy.dev/tenant label value on every policy.
  if (name.length > 63) return { ok: false, name, uid, generation, error: 'metadata.name: must be at most 63 characters (it is used as a label value)' };
  const r = tenantIsolationSpec.safeParse(obj.spec);
  if (!r.success) return { ok: false, name, uid, generation, error: formatIssues(r.error) };
  return { ok: true, tenant: { name, uid, generation, spec: r.data } };
}
