// The cluster baseline, pure: which namespaces it isolates and the policies it writes there. Shared by the
// namespace reconciler, the baseline's status and `render`/`verify`.
//   covered  a namespace that is not exempt and that no enforcing tenant claims (unclaimed, or claimed
//            only by tenants in Audit mode): the baseline isolates it (Enforce) or reports it (Audit)
//   exempt   the reserved namespaces (the same set tenants may never claim: MembershipIndex.reserved),
//            every kube-* namespace (Kubernetes reserves the prefix), and spec.exempt by name or selector
// Its policies carry their own reserved names, so a namespace joining a tenant holds both sets for a
// moment (the tenant's are written first, the baseline's deleted after: never a moment without a deny).
import type { ValidBaseline } from '../api/baseline.ts';
import { API_VERSION, BASELINE_KIND, BASELINE_NAME, type ValidTenant } from '../api/schema.ts';
import {
  BASELINE_POLICY_NAMES, LABEL_BASELINE, LABEL_MANAGED_BY, LABEL_NAMESPACE_NAME, OPERATOR_NAME,
  POLICY_BASELINE_ALLOW_DNS, POLICY_BASELINE_ALLOW_SAME_NAMESPACE, POLICY_BASELINE_DENY,
} from './labels.ts';
import { matchesSelector } from './selector.ts';
import type { NetworkPolicy, NetworkPolicyPeer, NetworkPolicySpec } from './types.ts';

/** What `tenantOfUid` answers for the baseline's uid: never a tenant's name (a slash is not in a DNS label). */
export const BASELINE_OWNER = `${BASELINE_KIND}/${BASELINE_NAME}`;

export const isBaselinePolicyName = (name: string): boolean => (BASELINE_POLICY_NAMES as readonly string[]).includes(name);

/** Why the baseline leaves a namespace alone, or undefined when it does not. */
export function baselineExemption(namespace: string, labels: Readonly<Record<string, string>>, baseline: ValidBaseline, reserved: ReadonlySet<string>): string | undefined {
  if (reserved.has(namespace)) return 'reserved';
  if (namespace.startsWith('kube-')) return 'a kube-* namespace';
  if (baseline.spec.exempt.namespaces.includes(namespace)) return 'exempt by name';
  const sel = baseline.spec.exempt.namespaceSelector;
  if (sel && matchesSelector(labels, sel)) return 'exempt by selector';
  return undefined;
}

/**
 * Whether the baseline covers the namespace: not exempt, and no claimant enforces (a tenant in Audit mode
 * writes nothing, so it must not open what the baseline isolates). `claimants` are the tenants claiming it,
 * failing-closed ones included: they enforce a deny, unless last in Audit (then they write nothing either).
 */
export function baselineCovers(namespace: string, labels: Readonly<Record<string, string>>, claimants: readonly ValidTenant[], baseline: ValidBaseline, reserved: ReadonlySet<string>): boolean {
  return claimants.every((t) => t.spec.mode === 'Audit') && baselineExemption(namespace, labels, baseline, reserved) === undefined;
}

function policy(name: string, b: ValidBaseline, spec: NetworkPolicySpec): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name, namespace: '',
      labels: { [LABEL_MANAGED_BY]: OPERATOR_NAME, [LABEL_BASELINE]: b.name },
      ownerReferences: [{ apiVersion: API_VERSION, kind: BASELINE_KIND, name: b.name, uid: b.uid, controller: true, blockOwnerDeletion: true }],
    },
    spec,
  };
}

/**
 * The baseline's policies, with metadata.namespace empty (the same in every namespace it covers: place them
 * with inNamespace): a default-deny both ways, egress to DNS, and traffic inside the namespace.
 */
export function baselineTemplates(b: ValidBaseline): NetworkPolicy[] {
  const out = [policy(POLICY_BASELINE_DENY, b, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })];
  const { dns } = b.spec;
  if (dns.enabled) {
    const to: NetworkPolicyPeer[] = [
      { namespaceSelector: { matchLabels: { [LABEL_NAMESPACE_NAME]: dns.namespace } }, podSelector: dns.podSelector },
      ...dns.ipBlocks.map((ipBlock) => ({ ipBlock })),
    ];
    out.push(policy(POLICY_BASELINE_ALLOW_DNS, b, { podSelector: {}, policyTypes: ['Egress'], egress: [{ to, ports: dns.ports }] }));
  }
  if (b.spec.intraNamespace.enabled) {
    // A podSelector alone is the policy's own namespace: each namespace its own island.
    const self: NetworkPolicyPeer = { podSelector: {} };
    out.push(policy(POLICY_BASELINE_ALLOW_SAME_NAMESPACE, b, { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [self] }], egress: [{ to: [self] }] }));
  }
  return out;
}
