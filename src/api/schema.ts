// The TenantIsolation API as one zod schema: the operator's types are inferred from it, the CRD is
// generated from it (hack/generate.ts; the CEL rules and OpenAPI extensions ride along as metadata,
// src/api/openapi.ts), and the operator re-validates every object it reads with it (the CRD may be older
// or newer than this binary).
import { z } from 'zod';
import { isValidCidr, cidrContains, parseCidr } from '../net/cidr.ts';
import { DNS_LABEL, LABEL_VALUE, QUALIFIED_NAME, atomicList, cel, type CrdMeta } from './openapi.ts';

export const GROUP = 'isolation.tenancy.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TenantIsolation';
export const PLURAL = 'tenantisolations';
export const FINALIZER = `${GROUP}/policies`;

// validation.IsValidPortName: 1-15 chars, a letter, no leading/trailing or double hyphen. The CRD checks
// the pattern only; the double hyphen is caught here (InvalidSpec) before a NetworkPolicy write would fail.
const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const KEY_MESSAGE = 'must be a qualified label key: [prefix/]name, name of 1-63 alphanumerics, -, _ or .';
const keyPrefixFits = (k: string): boolean => k.indexOf('/') <= 253;

export const labelKey = z.string().max(317).regex(new RegExp(QUALIFIED_NAME), KEY_MESSAGE)
  .refine(keyPrefixFits, 'the prefix of a label key must be at most 253 characters');
export const labelValue = z.string().max(63).regex(new RegExp(LABEL_VALUE), 'must be a label value: up to 63 alphanumerics, -, _ or .');

export const labelSelectorRequirement = z.strictObject({
  key: labelKey.meta({ description: 'The label key the requirement applies to.', 'x-kubernetes-validations': [cel('self.indexOf("/") <= 253', 'the prefix of a label key must be at most 253 characters')] }),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).meta({ description: 'How the key relates to the values.' }),
  values: z.array(labelValue).max(256).optional().meta(atomicList('Label values: non-empty for In and NotIn, empty for Exists and DoesNotExist.')),
}).superRefine((r, ctx) => {
  const n = r.values?.length ?? 0;
  if ((r.operator === 'In' || r.operator === 'NotIn') && n === 0) ctx.addIssue({ code: 'custom', path: ['values'], message: `must be non-empty when operator is ${r.operator}` });
  if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && n > 0) ctx.addIssue({ code: 'custom', path: ['values'], message: `must be empty when operator is ${r.operator}` });
}).meta({
  'x-kubernetes-validations': [
    cel('!(self.operator in ["In", "NotIn"]) || (has(self.values) && size(self.values) > 0)', 'values must be non-empty when operator is In or NotIn', '.values'),
    cel('!(self.operator in ["Exists", "DoesNotExist"]) || !has(self.values) || size(self.values) == 0', 'values must be empty when operator is Exists or DoesNotExist', '.values'),
  ],
});

export const labelSelector = z.strictObject({
  matchLabels: z.record(labelKey, labelValue).optional().meta({
    description: 'Labels a namespace or pod must carry, all of them (ANDed with matchExpressions).',
    maxProperties: 64, 'x-kubernetes-map-type': 'atomic',
    'x-kubernetes-validations': [cel(`self.all(k, k.matches("${QUALIFIED_NAME}") && k.indexOf("/") <= 253)`, 'keys must be qualified label keys: [prefix/]name, name of 1-63 alphanumerics, -, _ or .')],
  }),
  matchExpressions: z.array(labelSelectorRequirement).max(32).optional().meta(atomicList('Label requirements, all of which must hold.')),
});
const selectorMeta = (description: string, extra: CrdMeta = {}): CrdMeta => ({ description, 'x-kubernetes-map-type': 'atomic', ...extra });

export const protocol = z.enum(['TCP', 'UDP', 'SCTP']);

export const networkPort = z.strictObject({
  protocol: protocol.default('TCP').meta({ description: 'TCP, UDP or SCTP.' }),
  port: z.union([z.number().int().min(1).max(65535), z.string().max(15).regex(IANA_SVC_NAME, 'must be a port number 1-65535 or an IANA service name')]).optional().meta({
    description: 'A port number (1-65535) or an IANA service name resolved against the destination pod\'s named container ports. Absent: every port.',
    'x-kubernetes-int-or-string': true, maxLength: 15,
    'x-kubernetes-validations': [cel('type(self) == int ? (self >= 1 && self <= 65535) : (self.matches("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$") && self.matches("[a-z]"))', 'must be a port number 1-65535 or an IANA service name')],
  }),
  endPort: z.number().int().min(1).max(65535).optional().meta({ description: 'With a numeric port, makes the range port..endPort.', format: 'int32' }),
}).superRefine((p, ctx) => {
  if (p.endPort === undefined) return;
  if (typeof p.port !== 'number') ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'requires a numeric port' });
  else if (p.endPort < p.port) ctx.addIssue({ code: 'custom', path: ['endPort'], message: `must be >= port (${p.port})` });
}).meta({
  'x-kubernetes-validations': [
    cel('!has(self.endPort) || (has(self.port) && type(self.port) == int)', 'endPort requires a numeric port', '.endPort'),
    cel('!has(self.endPort) || !has(self.port) || type(self.port) != int || self.endPort >= self.port', 'endPort must be >= port', '.endPort'),
  ],
});
const portList = (description: string) => z.array(networkPort).max(64).meta(atomicList(description));

const CIDR_MESSAGE = 'must be a CIDR such as 10.0.0.0/8 or fd00::/8';
const cidr = z.string().max(64).refine(isValidCidr, CIDR_MESSAGE).meta({ 'x-kubernetes-validations': [cel('isCIDR(self)', CIDR_MESSAGE)] });
export const ipBlock = z.strictObject({
  cidr: cidr.meta({ description: 'An IPv4 or IPv6 range, such as 203.0.113.0/24 or 2001:db8::/32.' }),
  except: z.array(cidr).max(64).optional().meta(atomicList('Ranges inside cidr to leave out.')),
}).superRefine((b, ctx) => {
  if (!isValidCidr(b.cidr)) return;
  (b.except ?? []).forEach((e, i) => {
    // Like NetworkPolicy validation: a strict subset (an except equal to cidr is refused by the apiserver).
    if (isValidCidr(e) && (!cidrContains(b.cidr, e) || parseCidr(e)!.prefix <= parseCidr(b.cidr)!.prefix)) {
      ctx.addIssue({ code: 'custom', path: ['except', i], message: `must be a strict subset of cidr ${b.cidr}` });
    }
  });
}).meta({
  'x-kubernetes-validations': [cel('!has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || (cidr(self.cidr).containsCIDR(e) && cidr(e).prefixLength() > cidr(self.cidr).prefixLength()))', 'every except entry must be a strict subset of cidr', '.except')],
});

/** One declared extra path: a NetworkPolicyPeer plus the ports it may use. */
export const allowRule = z.strictObject({
  namespaceSelector: labelSelector.optional().meta(selectorMeta('Namespaces the peer pods run in; {} is every namespace. With podSelector: those pods in those namespaces.')),
  podSelector: labelSelector.optional().meta(selectorMeta('Pods of the peer; alone, pods in the tenant namespace itself.')),
  ipBlock: ipBlock.optional().meta({ description: 'Addresses of the peer, usually outside the cluster. Cannot be combined with the selectors.' }),
  ports: portList('Ports the path may use; empty: every port.').default(() => []),
}).superRefine((r, ctx) => {
  if (r.ipBlock && (r.namespaceSelector || r.podSelector)) ctx.addIssue({ code: 'custom', path: ['ipBlock'], message: 'cannot be combined with namespaceSelector or podSelector' });
  // An entry with no peer would allow everything; say so explicitly with namespaceSelector: {} or an ipBlock.
  if (!r.ipBlock && !r.namespaceSelector && !r.podSelector) ctx.addIssue({ code: 'custom', path: [], message: 'needs one of namespaceSelector, podSelector or ipBlock' });
}).meta({
  'x-kubernetes-validations': [
    cel('!(has(self.ipBlock) && (has(self.namespaceSelector) || has(self.podSelector)))', 'ipBlock cannot be combined with namespaceSelector or podSelector', '.ipBlock'),
    cel('has(self.ipBlock) || has(self.namespaceSelector) || has(self.podSelector)', 'needs one of namespaceSelector, podSelector or ipBlock (namespaceSelector: {} allows every namespace)'),
  ],
});

/**
 * Namespaces no tenant may claim: default-deny egress there would cut the control plane's add-ons, or the
 * operator itself, off the network. The operator also refuses its own namespace and any --reserved-namespaces.
 */
export const RESERVED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease', 'tenant-isolation-system'] as const;

/**
 * Whether a namespace selector names what it selects: a matchLabels pair, an In requirement, or Exists on a
 * label other than kubernetes.io/metadata.name (which every namespace carries). One built only of NotIn,
 * DoesNotExist and Exists-on-the-name-label terms matches every namespace but a few: never a tenant.
 */
export function selectorNamesItsNamespaces(sel: LabelSelector): boolean {
  if (Object.keys(sel.matchLabels ?? {}).length > 0) return true;
  return (sel.matchExpressions ?? []).some((r) => r.operator === 'In' || (r.operator === 'Exists' && r.key !== 'kubernetes.io/metadata.name'));
}
const POSITIVE_SELECTOR_CEL = `(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && self.matchExpressions.exists(r, r.operator == 'In' || (r.operator == 'Exists' && r.key != 'kubernetes.io/metadata.name')))`;
const SELECTOR_MESSAGE = 'must name the namespaces it selects (a matchLabels pair, an In requirement, or Exists on a label other than kubernetes.io/metadata.name): a selector built only of NotIn, DoesNotExist or Exists on the name label selects nearly every namespace in the cluster';

export const DEFAULT_DNS_PORTS = [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] as const;
const DNS_POD_SELECTOR = { matchLabels: { 'k8s-app': 'kube-dns' } };
const namespaceName = z.string().max(63).regex(new RegExp(DNS_LABEL), 'must be a namespace name (DNS-1123 label)');

export const tenantIsolationSpec = z.strictObject({
  namespaceSelector: labelSelector.optional().meta(selectorMeta('Selects the tenant\'s namespaces by label. Must not be empty: an empty selector selects every namespace.', {
    'x-kubernetes-validations': [
      cel('(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)', 'must not be empty: an empty selector selects every namespace in the cluster'),
      cel(POSITIVE_SELECTOR_CEL, SELECTOR_MESSAGE),
    ],
  })),
  namespaces: z.array(namespaceName.refine((n) => !(RESERVED_NAMESPACES as readonly string[]).includes(n), 'is a reserved namespace: no tenant may claim it'))
    .max(1000).default(() => []).meta(atomicList('Namespaces claimed by name, in addition to namespaceSelector. Reserved namespaces (kube-system, kube-public, kube-node-lease, the operator\'s) are refused.', {
      'x-kubernetes-validations': [cel(`self.all(n, !(n in [${RESERVED_NAMESPACES.map((n) => `'${n}'`).join(', ')}]))`, 'must not name a reserved namespace (kube-system, kube-public, kube-node-lease, tenant-isolation-system)')],
    })),
  mode: z.enum(['Enforce', 'Audit']).default('Enforce').meta({ description: 'Enforce writes NetworkPolicies; Audit only reports what it would do (namespace state WouldIsolate).' }),
  defaultDeny: z.strictObject({
    ingress: z.boolean().default(true).meta({ description: 'Deny ingress not allowed by another rule.' }),
    egress: z.boolean().default(true).meta({ description: 'Deny egress not allowed by another rule.' }),
  }).default(() => ({ ingress: true, egress: true })).meta({ description: 'Which directions of traffic the default-deny policy blocks in every tenant namespace.' }),
  dns: z.strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Allow egress to the DNS pods.' }),
    namespace: namespaceName.default('kube-system').meta({ description: 'Namespace of the DNS pods.' }),
    podSelector: labelSelector.default(() => structuredClone(DNS_POD_SELECTOR)).meta(selectorMeta('Labels of the DNS pods.')),
    ports: portList('Ports DNS is served on.').min(1).default(() => DEFAULT_DNS_PORTS.map((p) => ({ ...p }))),
    ipBlocks: z.array(ipBlock).max(64).default(() => []).meta(atomicList('Extra DNS addresses, such as a NodeLocal DNSCache link-local address (169.254.20.10/32).')),
  }).default(() => ({
    enabled: true, namespace: 'kube-system', podSelector: structuredClone(DNS_POD_SELECTOR),
    ports: DEFAULT_DNS_PORTS.map((p) => ({ ...p })), ipBlocks: [],
  })).meta({ description: 'Egress to the cluster DNS service, which a default-deny of egress would otherwise block.' }),
  intraTenant: z.strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Allow traffic between all namespaces of the tenant.' }),
  }).default(() => ({ enabled: true })).meta({ description: 'Traffic between the namespaces of the tenant.' }),
  allow: z.strictObject({
    ingressFrom: z.array(allowRule).max(64).default(() => []).meta(atomicList('Peers that may open connections to the tenant\'s pods.')),
    egressTo: z.array(allowRule).max(64).default(() => []).meta(atomicList('Peers the tenant\'s pods may open connections to.')),
  }).default(() => ({ ingressFrom: [], egressTo: [] })).meta({ description: 'Declared extra paths into and out of the tenant.' }),
}).superRefine((s, ctx) => {
  const sel = s.namespaceSelector;
  if (!sel && s.namespaces.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: 'set namespaceSelector or namespaces (a tenant needs at least one way to name its namespaces)' });
  }
  // An empty selector matches every namespace, kube-system included: never what a tenant means.
  if (sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
    ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: 'must not be empty: an empty selector selects every namespace in the cluster' });
  } else if (sel && !selectorNamesItsNamespaces(sel)) {
    ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: SELECTOR_MESSAGE });
  }
}).meta({
  description: 'Which namespaces form the tenant and what traffic, besides the tenant\'s own, they may exchange.',
  'x-kubernetes-validations': [cel('has(self.namespaceSelector) || (has(self.namespaces) && size(self.namespaces) > 0)', 'set namespaceSelector or namespaces (a tenant needs at least one way to name its namespaces)', '.namespaceSelector')],
});

export const NAMESPACE_STATES = ['Isolated', 'Pending', 'Conflict', 'Terminating', 'WouldIsolate', 'Excluded'] as const;

export const condition = z.strictObject({
  type: z.string().max(316).regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/).meta({ description: 'Condition type in CamelCase.' }),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().min(1).max(1024).regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/).meta({ description: 'Machine-readable reason in CamelCase.' }),
  message: z.string().max(32768).meta({ description: 'Human-readable details.' }),
  observedGeneration: z.number().int().min(0).optional().meta({ format: 'int64' }),
  lastTransitionTime: z.string().meta({ description: 'When status last changed.', format: 'date-time' }),
});

export const namespaceStatus = z.strictObject({
  name: z.string().max(63),
  state: z.enum(NAMESPACE_STATES).meta({ description: 'Isolated: policies in place. Pending: not yet. Conflict: claimed by several tenants (fail-closed deny only). Terminating: namespace is being deleted. WouldIsolate: Audit mode. Excluded: a reserved namespace the selector matches; never a member.' }),
  message: z.string().optional(),
});

export const tenantIsolationStatus = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().meta({ description: 'The metadata.generation this status describes.', format: 'int64' }),
  conditions: z.array(condition).optional().meta({ description: 'Ready (summary), Isolated (reachability proof), Reconciling and Stalled, as in kstatus.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  /** One line for `kubectl get` (the Namespaces printer column), e.g. "3/3 isolated". */
  summary: z.string().max(256).optional().meta({ description: 'One line for kubectl get, e.g. "3/3 isolated" or "2/3 isolated, 1 conflict".' }),
  namespaces: z.array(namespaceStatus).optional().meta({ description: 'Every namespace the tenant claims and its isolation state.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
}).meta({ description: 'What the operator observed and did.' });

export type LabelSelector = z.infer<typeof labelSelector>;
export type NetworkPort = z.infer<typeof networkPort>;
export type IPBlock = z.infer<typeof ipBlock>;
export type AllowRule = z.infer<typeof allowRule>;
export type TenantIsolationSpec = z.infer<typeof tenantIsolationSpec>;

export type NamespaceState = typeof NAMESPACE_STATES[number];
export type Condition = z.infer<typeof condition>;
export type NamespaceStatus = z.infer<typeof namespaceStatus>;
export type TenantIsolationStatus = z.infer<typeof tenantIsolationStatus>;

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
  /**
   * Set when the spec failed validation: the tenant keeps claiming the namespaces its selector and names
   * still say (they parsed on their own), with `spec` defaulted around them, and fails closed there.
   */
  invalid?: string;
}

export type ParsedTenant =
  | { ok: true; tenant: ValidTenant }
  | { ok: false; name: string; uid: string; generation: number; error: string; claims: ValidTenant | undefined };

/** The part of a spec that says which namespaces a tenant claims, checked on its own. */
const claimsOnly = z.object({ namespaceSelector: tenantIsolationSpec.shape.namespaceSelector, namespaces: tenantIsolationSpec.shape.namespaces })
  .refine((c) => c.namespaceSelector !== undefined || c.namespaces.length > 0)
  .refine((c) => c.namespaceSelector === undefined || selectorNamesItsNamespaces(c.namespaceSelector));

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
  if (obj.spec === undefined || obj.spec === null) return { ok: false, name, uid, generation, error: 'spec: is required', claims: undefined };
  // The name becomes the isolation.tenancy.dev/tenant label value on every policy.
  if (name.length > 63) return { ok: false, name, uid, generation, error: 'metadata.name: must be at most 63 characters (it is used as a label value)', claims: undefined };
  const r = tenantIsolationSpec.safeParse(obj.spec);
  if (r.success) return { ok: true, tenant: { name, uid, generation, spec: r.data } };
  const error = formatIssues(r.error);
  // The rest of the spec is wrong, but which namespaces it claims may still be clear: those fail closed.
  const c = claimsOnly.safeParse(obj.spec);
  const claims = c.success ? { name, uid, generation, invalid: error, spec: tenantIsolationSpec.parse({ namespaceSelector: c.data.namespaceSelector, namespaces: c.data.namespaces }) } : undefined;
  return { ok: false, name, uid, generation, error, claims };
}
