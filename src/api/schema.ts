// The TenantIsolation API as one zod schema: the operator's types are inferred from it, the CRD is
// generated from it (hack/generate.ts; the CEL rules and OpenAPI extensions ride along as metadata,
// src/api/openapi.ts), and the operator re-validates every object it reads with it (the CRD may be older
// or newer than this binary).
import { z } from 'zod';
import { isValidCidr, cidrContains, parseCidr } from '../net/cidr.ts';
import { DNS_LABEL, LABEL_VALUE, QUALIFIED_NAME, atomicList, cel, type CrdMeta } from './openapi.ts';
import { effectiveSettings } from '../policy/effective-spec.ts';

export const GROUP = 'isolation.tenancy.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'TenantIsolation';
export const PLURAL = 'tenantisolations';
export const FINALIZER = `${GROUP}/policies`;
export const PROFILE_KIND = 'IsolationProfile';
export const PROFILE_PLURAL = 'isolationprofiles';
/** The profile a tenant that names none inherits from, when it exists. */
export const DEFAULT_PROFILE = 'default';
export const BASELINE_KIND = 'IsolationBaseline';
export const BASELINE_PLURAL = 'isolationbaselines';
/** The one IsolationBaseline the operator reads. */
export const BASELINE_NAME = 'cluster';

// validation.IsValidPortName: 1-15 chars, a letter, no leading/trailing or double hyphen. The CRD checks
// the pattern only; the double hyphen is caught here (InvalidSpec) before a NetworkPolicy write would fail.
export const IANA_SVC_NAME = /^(?=.{1,15}$)(?=.*[a-z])(?!.*--)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
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
/** NetworkPolicy validation's rule for an ipBlock: each except a strict subset of cidr (one equal to it is refused). */
export function refineExcepts(b: { cidr: string; except?: string[] | undefined }, ctx: z.RefinementCtx): void {
  if (!isValidCidr(b.cidr)) return;
  (b.except ?? []).forEach((e, i) => {
    if (isValidCidr(e) && (!cidrContains(b.cidr, e) || parseCidr(e)!.prefix <= parseCidr(b.cidr)!.prefix)) {
      ctx.addIssue({ code: 'custom', path: ['except', i], message: `must be a strict subset of cidr ${b.cidr}` });
    }
  });
}

export const ipBlock = z.strictObject({
  cidr: cidr.meta({ description: 'An IPv4 or IPv6 range, such as 203.0.113.0/24 or 2001:db8::/32.' }),
  except: z.array(cidr).max(64).optional().meta(atomicList('Ranges inside cidr to leave out.')),
}).superRefine(refineExcepts).meta({
  'x-kubernetes-validations': [cel('!has(self.except) || !isCIDR(self.cidr) || self.except.all(e, !isCIDR(e) || (cidr(self.cidr).containsCIDR(e) && cidr(e).prefixLength() > cidr(self.cidr).prefixLength()))', 'every except entry must be a strict subset of cidr', '.except')],
});

/** One declared extra path: a NetworkPolicyPeer plus the ports it may use. */
export const allowRule = z.strictObject({
  name: z.string().max(63).regex(new RegExp(DNS_LABEL), 'must be a DNS label: lowercase alphanumerics and -, at most 63').optional()
    .meta({ description: 'Names the entry, so that a tenant inheriting it from a profile can drop it (allow.exclude). Optional; not written into the NetworkPolicy.' }),
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
  if (selectorKeys(sel).some((k) => k.startsWith(OPERATOR_LABEL_PREFIX))) return false;
  if (Object.keys(sel.matchLabels ?? {}).length > 0) return true;
  return (sel.matchExpressions ?? []).some((r) => r.operator === 'In' || (r.operator === 'Exists' && r.key !== 'kubernetes.io/metadata.name'));
}
/** Labels under this prefix are the operator's (set on namespaces it isolates): no selector may read them. */
const OPERATOR_LABEL_PREFIX = `${GROUP}/`;
const selectorKeys = (sel: LabelSelector): string[] => [...Object.keys(sel.matchLabels ?? {}), ...(sel.matchExpressions ?? []).map((r) => r.key)];
const POSITIVE_SELECTOR_CEL = `(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && self.matchExpressions.exists(r, r.operator == 'In' || (r.operator == 'Exists' && r.key != 'kubernetes.io/metadata.name')))`;
const OPERATOR_KEYS_CEL = `!(has(self.matchLabels) && self.matchLabels.exists(k, k.startsWith('${GROUP}/'))) && !(has(self.matchExpressions) && self.matchExpressions.exists(r, r.key.startsWith('${GROUP}/')))`;
const SELECTOR_MESSAGE = `must name the namespaces it selects (a matchLabels pair, an In requirement, or Exists on a label other than kubernetes.io/metadata.name), and read no ${GROUP}/ label (the operator's own): a selector built only of NotIn, DoesNotExist or Exists on the name label selects nearly every namespace in the cluster`;

// The settings a profile holds and a tenant overrides (src/policy/effective-spec.ts), leaf by leaf. Each
// leaf is defined once; the stored objects carry them without defaults (an absent leaf is inherited), and
// the effective spec the operator works from has every leaf filled with its built-in default.
const MODE = z.enum(['Enforce', 'Audit']);
const M = {
  mode: { description: 'Enforce writes NetworkPolicies; Audit only reports what it would do (namespace state WouldIsolate). Default Enforce.' },
  defaultDeny: { description: 'Which directions of traffic the default-deny policy blocks in every tenant namespace.' },
  denyIngress: { description: 'Deny ingress not allowed by another rule. Default true.' },
  denyEgress: { description: 'Deny egress not allowed by another rule. Default true.' },
  dns: { description: 'Egress to the cluster DNS service, which a default-deny of egress would otherwise block.' },
  dnsEnabled: { description: 'Allow egress to the DNS pods. Default true.' },
  dnsNamespace: { description: 'Namespace of the DNS pods. Default kube-system.' },
  dnsPodSelector: selectorMeta('Labels of the DNS pods. Default {matchLabels: {k8s-app: kube-dns}}.'),
  dnsPorts: 'Ports DNS is served on. Default UDP 53 and TCP 53.',
  dnsIpBlocks: atomicList('Extra DNS addresses, such as a NodeLocal DNSCache link-local address (169.254.20.10/32).'),
  intraTenant: { description: 'Traffic between the namespaces of the tenant.' },
  intraEnabled: { description: 'Allow traffic between all namespaces of the tenant. Default true.' },
  allow: { description: 'Declared extra paths into and out of the tenant.' },
  ingressFrom: 'Peers that may open connections to the tenant\'s pods.',
  egressTo: 'Peers the tenant\'s pods may open connections to.',
} satisfies Record<string, CrdMeta | string>;
const allowList = (description: string, max = 64) => z.array(allowRule).max(max).meta(atomicList(description));

export const DEFAULT_DNS_PORTS = [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] as const;
const DNS_POD_SELECTOR = { matchLabels: { 'k8s-app': 'kube-dns' } };
export const namespaceName = z.string().max(63).regex(new RegExp(DNS_LABEL), 'must be a namespace name (DNS-1123 label)');

/** The DNS settings with every default filled (the baseline uses them as they are). */
export const dnsSettings = z.strictObject({
  enabled: z.boolean().default(true).meta(M.dnsEnabled),
  namespace: namespaceName.default('kube-system').meta(M.dnsNamespace),
  podSelector: labelSelector.default(() => structuredClone(DNS_POD_SELECTOR)).meta(M.dnsPodSelector),
  ports: portList(M.dnsPorts).min(1).default(() => DEFAULT_DNS_PORTS.map((p) => ({ ...p }))),
  ipBlocks: z.array(ipBlock).max(64).default(() => []).meta(M.dnsIpBlocks),
});
const defaultDns = (): z.output<typeof dnsSettings> => dnsSettings.parse({});

/**
 * The inheritable settings as stored in an IsolationProfile and a TenantIsolation: no defaults, so that an
 * absent leaf is inherited (tenant, then profile, then the built-in default).
 */
export const isolationSettingsShape = {
  mode: MODE.optional().meta(M.mode),
  defaultDeny: z.strictObject({
    ingress: z.boolean().optional().meta(M.denyIngress),
    egress: z.boolean().optional().meta(M.denyEgress),
  }).optional().meta(M.defaultDeny),
  dns: z.strictObject({
    enabled: z.boolean().optional().meta(M.dnsEnabled),
    namespace: namespaceName.optional().meta(M.dnsNamespace),
    podSelector: labelSelector.optional().meta(M.dnsPodSelector),
    ports: portList(M.dnsPorts).min(1).optional(),
    ipBlocks: z.array(ipBlock).max(64).optional().meta(M.dnsIpBlocks),
  }).optional().meta(M.dns),
  intraTenant: z.strictObject({
    enabled: z.boolean().optional().meta(M.intraEnabled),
  }).optional().meta(M.intraTenant),
  allow: z.strictObject({
    ingressFrom: allowList(M.ingressFrom).optional(),
    egressTo: allowList(M.egressTo).optional(),
  }).optional().meta(M.allow),
};
export const isolationSettings = z.strictObject(isolationSettingsShape);

const namespaceSelectorField = labelSelector.optional().meta(selectorMeta('Selects the tenant\'s namespaces by label. Must not be empty: an empty selector selects every namespace.', {
  'x-kubernetes-validations': [
    cel('(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)', 'must not be empty: an empty selector selects every namespace in the cluster'),
    cel(POSITIVE_SELECTOR_CEL, SELECTOR_MESSAGE),
    cel(OPERATOR_KEYS_CEL, `must not read the operator's ${GROUP}/ labels`),
  ],
}));
const namespacesField = z.array(namespaceName.refine((n) => !(RESERVED_NAMESPACES as readonly string[]).includes(n), 'is a reserved namespace: no tenant may claim it'))
  .max(1000).default(() => []).meta(atomicList('Namespaces claimed by name, in addition to namespaceSelector. Reserved namespaces (kube-system, kube-public, kube-node-lease, the operator\'s) are refused.', {
    'x-kubernetes-validations': [cel(`self.all(n, !(n in [${RESERVED_NAMESPACES.map((n) => `'${n}'`).join(', ')}]))`, 'must not name a reserved namespace (kube-system, kube-public, kube-node-lease, tenant-isolation-system)')],
  }));
/** An object name a tenant can refer to (profiles are named like namespaces). */
export const profileName = z.string().max(63).regex(new RegExp(DNS_LABEL), 'must be the name of an IsolationProfile (a DNS label)');

/** Claims need a way to name namespaces, and a selector that names what it selects (on the stored and the effective spec alike). */
function checkClaims(s: { namespaceSelector?: LabelSelector | undefined; namespaces: string[] }, ctx: z.RefinementCtx): void {
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
}
const CLAIMS_CEL = cel('has(self.namespaceSelector) || (has(self.namespaces) && size(self.namespaces) > 0)', 'set namespaceSelector or namespaces (a tenant needs at least one way to name its namespaces)', '.namespaceSelector');

/** The TenantIsolation spec as stored (the CRD's schema): claims, the profile it inherits from, and its own settings. */
export const tenantIsolationSpecInput = z.strictObject({
  namespaceSelector: namespaceSelectorField,
  namespaces: namespacesField,
  profile: profileName.optional().meta({ description: 'The IsolationProfile this tenant inherits its settings from. Absent: the profile named default, if it exists. A profile that does not exist or is invalid makes the tenant fail closed.' }),
  ...isolationSettingsShape,
  allow: z.strictObject({
    ingressFrom: allowList(M.ingressFrom).optional(),
    egressTo: allowList(M.egressTo).optional(),
    exclude: z.array(z.string().max(63).regex(new RegExp(DNS_LABEL), 'must be the name of an allow entry (a DNS label)')).max(64).optional()
      .meta(atomicList('Names of allow entries inherited from the profile to leave out (both directions). Each must name an entry of the profile.')),
  }).optional().meta({ description: 'Declared extra paths into and out of the tenant, added to the profile\'s.' }),
}).superRefine(checkClaims).meta({
  description: 'Which namespaces form the tenant and what traffic, besides the tenant\'s own, they may exchange. Settings not given are inherited from the profile, then take their built-in defaults.',
  'x-kubernetes-validations': [CLAIMS_CEL],
});

/**
 * The effective spec the operator works from (ValidTenant.spec): every leaf filled. It is what
 * src/policy/effective-spec.ts makes of a tenant and its profile, validated once more here. The allow
 * lists hold the profile's entries and the tenant's, so they may be twice as long as either.
 */
export const tenantIsolationSpec = z.strictObject({
  namespaceSelector: namespaceSelectorField,
  namespaces: namespacesField,
  mode: MODE.default('Enforce').meta(M.mode),
  defaultDeny: z.strictObject({
    ingress: z.boolean().default(true).meta(M.denyIngress),
    egress: z.boolean().default(true).meta(M.denyEgress),
  }).default(() => ({ ingress: true, egress: true })).meta(M.defaultDeny),
  dns: dnsSettings.default(defaultDns).meta(M.dns),
  intraTenant: z.strictObject({
    enabled: z.boolean().default(true).meta(M.intraEnabled),
  }).default(() => ({ enabled: true })).meta(M.intraTenant),
  allow: z.strictObject({
    ingressFrom: allowList(M.ingressFrom, 128).default(() => []),
    egressTo: allowList(M.egressTo, 128).default(() => []),
  }).default(() => ({ ingressFrom: [], egressTo: [] })).meta(M.allow),
}).superRefine(checkClaims).meta({
  description: 'Which namespaces form the tenant and what traffic, besides the tenant\'s own, they may exchange.',
  'x-kubernetes-validations': [CLAIMS_CEL],
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

/**
 * At most this many entries in a tenant's status.namespaces (the counts are always exact). Measured on
 * kube-apiserver 1.37, an entry costs ~70 bytes and ~80 more in managedFields: past ~10 000 the apiserver
 * drops the object's managedFields to fit etcd's 1.5 MiB request limit, past ~23 000 it refuses the write.
 */
export const TENANT_STATUS_LIST_MAX = 1000;

const count = (description: string) => z.number().int().min(0).meta({ description, format: 'int32' });
export const namespaceCounts = z.strictObject({
  isolated: count('Isolated: the tenant\'s policies in place.'),
  pending: count('Pending: not isolated yet (or not created yet).'),
  conflict: count('Conflict: claimed by several tenants; fail-closed deny only.'),
  terminating: count('Terminating: being deleted.'),
  wouldIsolate: count('WouldIsolate: Audit mode.'),
  excluded: count('Excluded: reserved namespaces the selector matches; never members.'),
});
export type NamespaceCounts = z.infer<typeof namespaceCounts>;

/** How a tenant's intra-tenant policies name its members (see LABEL_MEMBER_OF). */
export const PEER_MODES = ['NamespaceNames', 'MembershipLabel'] as const;
export type PeerMode = typeof PEER_MODES[number];

export const tenantIsolationStatus = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().meta({ description: 'The metadata.generation this status describes.', format: 'int64' }),
  mode: MODE.optional().meta({ description: 'The effective mode: the tenant\'s, else its profile\'s, else Enforce.' }),
  profile: z.string().max(63).optional().meta({ description: 'The IsolationProfile the tenant inherits its settings from, if any.' }),
  conditions: z.array(condition).optional().meta({ description: 'Ready (summary), Isolated (reachability proof), Reconciling and Stalled, as in kstatus.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  /** One line for `kubectl get` (the Namespaces printer column), e.g. "3/3 isolated". */
  summary: z.string().max(256).optional().meta({ description: 'One line for kubectl get, e.g. "3/3 isolated" or "2/3 isolated, 1 conflict".' }),
  namespaces: z.array(namespaceStatus).max(TENANT_STATUS_LIST_MAX).optional().meta({ description: 'The namespaces the tenant claims or names and their isolation state, sorted by name: every one up to 1000; beyond that, those not Isolated (or WouldIsolate) first. namespaceCounts gives the totals.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] }),
  namespaceCounts: namespaceCounts.optional().meta({ description: 'How many namespaces are in each state, all of them (status.namespaces lists at most 1000).' }),
  intraTenantPeers: z.enum(PEER_MODES).optional().meta({ description: 'How intra-tenant policies name the members: NamespaceNames (every member by its immutable name label: a join rewrites every member) or MembershipLabel (the operator-only isolation.tenancy.dev/member-of label, used while the admission gate guards it: a join costs the same at any size).' }),
}).meta({ description: 'What the operator observed and did.' });

export type LabelSelector = z.infer<typeof labelSelector>;
export type NetworkPort = z.infer<typeof networkPort>;
export type IPBlock = z.infer<typeof ipBlock>;
export type AllowRule = z.infer<typeof allowRule>;
export type TenantIsolationSpec = z.infer<typeof tenantIsolationSpec>;
export type TenantIsolationSpecInput = z.output<typeof tenantIsolationSpecInput>;
export type IsolationSettings = z.output<typeof isolationSettings>;

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

/** Why a tenant fails closed: its own spec, or the profile it inherits from. */
export type InvalidReason = 'InvalidSpec' | 'ProfileNotFound' | 'InvalidProfile';

/** A tenant whose effective spec (its own settings over its profile's) passed validation, with defaults applied. */
export interface ValidTenant {
  name: string;
  uid: string;
  generation: number;
  spec: TenantIsolationSpec;
  /** The IsolationProfile the spec inherits from, if any (the one it names, or `default`). */
  profile?: string;
  /**
   * Set when the spec failed validation (or its profile is missing or invalid): the tenant keeps claiming
   * the namespaces its selector and names still say (they parsed on their own), with `spec` defaulted
   * around them, and fails closed there.
   */
  invalid?: string;
  invalidReason?: InvalidReason;
}

export type ParsedTenant =
  | { ok: true; tenant: ValidTenant }
  | { ok: false; name: string; uid: string; generation: number; error: string; reason: InvalidReason; claims: ValidTenant | undefined };

/** A profile as a tenant sees it: its settings, or why it is invalid. */
export type ResolvedProfile = { name: string; spec: IsolationSettings } | { name: string; error: string };
/** Finds a profile by name (undefined: no such profile). */
export type ProfileLookup = (name: string) => ResolvedProfile | undefined;
const NO_PROFILES: ProfileLookup = () => undefined;

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

/**
 * Parses a TenantIsolation into its effective spec: its own settings over those of its profile (the one
 * `spec.profile` names, else `default` when `profileOf` knows one), leaf by leaf, then the built-in
 * defaults (src/policy/effective-spec.ts). A spec, profile or merge that fails validation fails closed:
 * `claims` keeps what the tenant still clearly claims.
 */
export function parseTenant(obj: TenantIsolationObject, profileOf: ProfileLookup = NO_PROFILES): ParsedTenant {
  const name = obj.metadata.name;
  const uid = obj.metadata.uid;
  const generation = obj.metadata.generation ?? 0;
  // Failing closed keeps what was in place: a tenant last seen in Audit (its status records the effective
  // mode, its profile's included) stays in Audit and writes nothing, rather than cutting off every
  // namespace it was only observing; one never seen valid keeps its own spec.mode; anything else Enforce.
  const mode = MODE.safeParse(obj.status?.mode ?? (obj.spec as { mode?: unknown } | null | undefined)?.mode).data ?? 'Enforce';
  const fail = (reason: InvalidReason, error: string, c: { namespaceSelector?: LabelSelector | undefined; namespaces: string[] } | undefined): ParsedTenant => ({
    ok: false, name, uid, generation, error, reason,
    claims: c ? { name, uid, generation, invalid: error, invalidReason: reason, spec: tenantIsolationSpec.parse({ namespaceSelector: c.namespaceSelector, namespaces: c.namespaces, mode }) } : undefined,
  });
  if (obj.spec === undefined || obj.spec === null) return fail('InvalidSpec', 'spec: is required', undefined);
  // The name becomes the isolation.tenancy.dev/tenant label value on every policy.
  if (name.length > 63) return fail('InvalidSpec', 'metadata.name: must be at most 63 characters (it is used as a label value)', undefined);
  const r = tenantIsolationSpecInput.safeParse(obj.spec);
  if (!r.success) {
    // The rest of the spec is wrong, but which namespaces it claims may still be clear: those fail closed.
    const c = claimsOnly.safeParse(obj.spec);
    return fail('InvalidSpec', formatIssues(r.error), c.success ? c.data : undefined);
  }
  const input = r.data;
  const profile = profileOf(input.profile ?? DEFAULT_PROFILE);
  if (!profile && input.profile !== undefined) return fail('ProfileNotFound', `spec.profile: IsolationProfile ${input.profile} does not exist`, input);
  if (profile && 'error' in profile) {
    const which = input.profile !== undefined ? `IsolationProfile ${profile.name}` : `IsolationProfile ${profile.name} (inherited by every tenant that names no profile)`;
    return fail('InvalidProfile', `spec.profile: ${which} is invalid: ${profile.error}`, input);
  }
  const merged = effectiveSettings(input, profile);
  if (!merged.ok) return fail('InvalidSpec', merged.error, input);
  const full = tenantIsolationSpec.safeParse({ namespaceSelector: input.namespaceSelector, namespaces: input.namespaces, ...merged.settings });
  if (!full.success) return fail('InvalidSpec', formatIssues(full.error), input);
  return { ok: true, tenant: { name, uid, generation, spec: full.data, ...(profile ? { profile: profile.name } : {}) } };
}
