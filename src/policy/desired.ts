// The pure heart of the operator: which NetworkPolicies a namespace should hold, given the tenants that
// claim it. No I/O: the reconciler, `render` and tests all call this one function.
import { API_VERSION, KIND, type AllowRule, type PeerMode, type ValidTenant, type LabelSelector } from '../api/schema.ts';
import {
  ANNOTATION_CONFLICT, LABEL_MANAGED_BY, LABEL_MEMBER_OF, LABEL_NAMESPACE_NAME, LABEL_TENANT, OPERATOR_NAME,
  POLICY_ALLOW_DNS, POLICY_ALLOW_EXTRA, POLICY_ALLOW_INTRA_TENANT, POLICY_DEFAULT_DENY,
} from './labels.ts';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicySpec, OwnerReference } from './types.ts';
import { compareStrings } from './order.ts';

export type NamespacePlan =
  /** No tenant claims it: it must hold no managed policy. */
  | { kind: 'unclaimed'; namespace: string }
  /** One tenant claims it. `policies` is what Enforce writes; Audit writes nothing and reports them. */
  | { kind: 'member'; namespace: string; tenant: ValidTenant; policies: NetworkPolicy[] }
  /** Several tenants claim it: fail closed with a full default-deny and no allow for anyone. */
  | { kind: 'conflict'; namespace: string; tenants: ValidTenant[]; policies: NetworkPolicy[] }
  /**
   * Only a tenant whose spec is invalid claims it: fail closed with a full default-deny until the spec is
   * fixed; none for a tenant last in Audit (it stays in Audit: schema.ts parseTenant).
   */
  | { kind: 'failClosed'; namespace: string; tenant: ValidTenant; policies: NetworkPolicy[] };

/**
 * Plans one namespace. `claimants` are the valid tenants that claim it (sorted by name); `membersOf`
 * returns a tenant's exclusive member namespaces, which its intra-tenant policy lists by their immutable
 * `kubernetes.io/metadata.name` label, so no label anyone sets can forge membership.
 */
export function planNamespace(
  namespace: string, claimants: readonly ValidTenant[], membersOf: (tenant: string) => readonly string[],
  templatesOf: (tenant: ValidTenant, members: readonly string[]) => readonly NetworkPolicy[] = memberTemplates,
): NamespacePlan {
  if (claimants.length === 0) return { kind: 'unclaimed', namespace };
  if (claimants.length === 1 && claimants[0]!.invalid !== undefined) {
    const tenant = claimants[0]!;
    return { kind: 'failClosed', namespace, tenant, policies: tenant.spec.mode === 'Audit' ? [] : [failClosedDeny(namespace, [tenant], [tenant])] };
  }
  if (claimants.length === 1) {
    const tenant = claimants[0]!;
    const members = membersOf(tenant.name);
    // The namespace itself is always a peer, even while it is not yet in the member list.
    const templates = templatesOf(tenant, members.includes(namespace) ? members : [...members, namespace]);
    return { kind: 'member', namespace, tenant, policies: templates.map((t) => inNamespace(t, namespace)) };
  }
  const tenants = [...claimants].sort((a, b) => compareStrings(a.name, b.name));
  const enforcing = tenants.filter((t) => t.spec.mode === 'Enforce');
  const policies = enforcing.length === 0 ? [] : [failClosedDeny(namespace, enforcing, tenants)];
  return { kind: 'conflict', namespace, tenants, policies };
}

/** The policies the operator writes for a plan: Audit-mode members get none. */
export function policiesToApply(plan: NamespacePlan): NetworkPolicy[] {
  if (plan.kind === 'member' && plan.tenant.spec.mode === 'Audit') return [];
  return plan.kind === 'unclaimed' ? [] : plan.policies;
}

export function ownerReference(t: ValidTenant, controller = true): OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: t.name, uid: t.uid, controller, blockOwnerDeletion: true };
}

/**
 * A tenant's labels and owner reference, made once per tenant object and shared (frozen) by all its
 * policies: the operator keeps every tenant's templates, three each.
 */
const tenantMeta = new WeakMap<ValidTenant, { labels: Readonly<Record<string, string>>; ownerReferences: readonly OwnerReference[] }>();

function policy(name: string, namespace: string, tenant: ValidTenant, spec: NetworkPolicySpec): NetworkPolicy {
  let meta = tenantMeta.get(tenant);
  if (!meta) {
    meta = Object.freeze({
      labels: Object.freeze({ [LABEL_MANAGED_BY]: OPERATOR_NAME, [LABEL_TENANT]: tenant.name }),
      ownerReferences: Object.freeze([Object.freeze(ownerReference(tenant))]),
    });
    tenantMeta.set(tenant, meta);
  }
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    // Frozen and shared: a write that changed them would throw rather than change every policy.
    metadata: { name, namespace, labels: meta.labels, ownerReferences: meta.ownerReferences as OwnerReference[] },
    spec,
  };
}

function types(ingress: boolean, egress: boolean): ('Ingress' | 'Egress')[] {
  return [...(ingress ? ['Ingress' as const] : []), ...(egress ? ['Egress' as const] : [])];
}

const byName = (names: readonly string[]): LabelSelector => ({
  matchExpressions: [{ key: LABEL_NAMESPACE_NAME, operator: 'In', values: [...names] }],
});

/**
 * An intra-tenant policy's peers listed by name, narrowed to `allowed`: undefined when it lists no other
 * name (nothing to write). Only ever narrows: a peer whose names all go is dropped with them, and a rule
 * left with no peer goes too (an empty `from`/`to` would admit everyone). Peers of any other shape (by
 * the member label) are kept as they are. For members frozen by an invalid tenant (namespace-reconciler).
 */
export function narrowNamedPeers(spec: NetworkPolicySpec, allowed: ReadonlySet<string>): NetworkPolicySpec | undefined {
  let narrowed = false;
  const narrow = (peers: readonly NetworkPolicyPeer[]): NetworkPolicyPeer[] => peers.flatMap((peer) => {
    const e = peer.namespaceSelector?.matchExpressions;
    const named = peer.podSelector === undefined && peer.ipBlock === undefined && peer.namespaceSelector?.matchLabels === undefined
      && e?.length === 1 && e[0]!.key === LABEL_NAMESPACE_NAME && e[0]!.operator === 'In';
    if (!named) return [peer];
    const values = (e[0]!.values ?? []).filter((v) => allowed.has(v));
    if (values.length === (e[0]!.values ?? []).length) return [peer];
    narrowed = true;
    return values.length === 0 ? [] : [{ namespaceSelector: byName(values) }];
  });
  const rules = <R extends { from?: NetworkPolicyPeer[]; to?: NetworkPolicyPeer[] }>(rs: readonly R[] | undefined, side: 'from' | 'to'): R[] | undefined =>
    rs?.flatMap((r) => {
      const peers = r[side];
      if (peers === undefined) return [r];
      const kept = narrow(peers);
      return kept.length === 0 ? [] : [{ ...r, [side]: kept }];
    });
  // policyTypes made explicit: with egress rules gone, an absent one would no longer isolate egress.
  const out: NetworkPolicySpec = { ...spec, policyTypes: spec.policyTypes ?? types(true, (spec.egress?.length ?? 0) > 0) };
  if (spec.ingress) out.ingress = rules(spec.ingress, 'from')!;
  if (spec.egress) out.egress = rules(spec.egress, 'to')!;
  return narrowed ? out : undefined;
}

function peerOf(rule: AllowRule): NetworkPolicyPeer {
  const p: NetworkPolicyPeer = {};
  if (rule.namespaceSelector) p.namespaceSelector = rule.namespaceSelector;
  if (rule.podSelector) p.podSelector = rule.podSelector;
  if (rule.ipBlock) p.ipBlock = rule.ipBlock;
  return p;
}

/** A policy template placed in a namespace (the spec is shared, not copied). */
export function inNamespace(template: NetworkPolicy, namespace: string): NetworkPolicy {
  return { ...template, metadata: { ...template.metadata, namespace } };
}

/**
 * The policies every member namespace of `tenant` holds, with metadata.namespace left empty: they are the
 * same in every member (the intra-tenant peers list all members), so callers compute them once per tenant
 * and membership and place them with `inNamespace`. `members` must include the namespace they are for.
 */
export function memberTemplates(tenant: ValidTenant, members: readonly string[], peers: PeerMode = 'NamespaceNames'): NetworkPolicy[] {
  const namespace = '';
  const { defaultDeny, dns, intraTenant, allow } = tenant.spec;
  const ingress = defaultDeny.ingress;
  const egress = defaultDeny.egress;
  const out: NetworkPolicy[] = [];
  // Allow policies carry only the directions that are denied: a policy naming a direction isolates the
  // pods for it, so an Egress allow in a tenant without egress deny would cut its egress instead.
  if (ingress || egress) {
    out.push(policy(POLICY_DEFAULT_DENY, namespace, tenant, { podSelector: {}, policyTypes: types(ingress, egress) }));
  }
  if (egress && dns.enabled) {
    const to: NetworkPolicyPeer[] = [
      { namespaceSelector: { matchLabels: { [LABEL_NAMESPACE_NAME]: dns.namespace } }, podSelector: dns.podSelector },
      ...dns.ipBlocks.map((ipBlock) => ({ ipBlock })),
    ];
    out.push(policy(POLICY_ALLOW_DNS, namespace, tenant, { podSelector: {}, policyTypes: ['Egress'], egress: [{ to, ports: dns.ports }] }));
  }
  if (intraTenant.enabled && (ingress || egress)) {
    // By name, every member is listed (a join rewrites every member's policy). By label, the members are
    // the namespaces carrying the operator-only member label, plus the namespace's own pods (it is labelled
    // only once its policies are stored): the same policy whatever the tenant's size.
    const peersOf: NetworkPolicyPeer[] = peers === 'MembershipLabel'
      ? [{ namespaceSelector: { matchLabels: { [LABEL_MEMBER_OF]: tenant.name } } }, { podSelector: {} }]
      : [{ namespaceSelector: byName([...new Set(members)].sort()) }];
    const spec: NetworkPolicySpec = { podSelector: {}, policyTypes: types(ingress, egress) };
    if (ingress) spec.ingress = [{ from: peersOf }];
    if (egress) spec.egress = [{ to: peersOf }];
    out.push(policy(POLICY_ALLOW_INTRA_TENANT, namespace, tenant, spec));
  }
  const extraIn = ingress ? allow.ingressFrom : [];
  const extraOut = egress ? allow.egressTo : [];
  if (extraIn.length > 0 || extraOut.length > 0) {
    const spec: NetworkPolicySpec = { podSelector: {}, policyTypes: types(extraIn.length > 0, extraOut.length > 0) };
    if (extraIn.length > 0) spec.ingress = extraIn.map((r) => ({ from: [peerOf(r)], ...(r.ports.length ? { ports: r.ports } : {}) }));
    if (extraOut.length > 0) spec.egress = extraOut.map((r) => ({ to: [peerOf(r)], ...(r.ports.length ? { ports: r.ports } : {}) }));
    out.push(policy(POLICY_ALLOW_EXTRA, namespace, tenant, spec));
  }
  return out;
}

/** A full default-deny, owned by `owners` (the first as controller); with several claimants, annotated with their names. */
function failClosedDeny(namespace: string, owners: ValidTenant[], claimants: ValidTenant[]): NetworkPolicy {
  const p = policy(POLICY_DEFAULT_DENY, namespace, owners[0]!, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  // Every enforcing claimant owns it, so garbage collection keeps it while any of them exists.
  p.metadata.ownerReferences = owners.map((t, i) => ownerReference(t, i === 0));
  if (claimants.length > 1) p.metadata.annotations = { [ANNOTATION_CONFLICT]: claimants.map((t) => t.name).join(',') };
  return p;
}
