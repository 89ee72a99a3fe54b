// What the churn's tenant specs mean, read from the documented API (docs/api.md) for the only shapes the
// churn writes: a matchLabels selector on one label, optional names, a mode, one allow entry, and one kind
// of invalid spec. Both checkers use it; the operator's own membership code is never called.
import { INVALID_PORT, TENANT_LABEL } from './churn.ts';
import type { Obj, Version } from './history.ts';

export interface TenantLike {
  metadata: { name: string; uid?: string; generation?: number; deletionTimestamp?: string };
  spec?: unknown;
  status?: unknown;
}
interface ChurnSpec {
  namespaceSelector?: { matchLabels?: Record<string, string> };
  namespaces?: string[];
  mode?: string;
  intraTenant?: { enabled?: boolean };
  allow?: { ingressFrom?: { ports?: { port?: unknown }[] }[] };
}
interface TenantStatus { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; observedGeneration?: number }[] }

export const MANAGED_BY = 'app.kubernetes.io/managed-by';
export const OPERATOR = 'tenant-isolation-operator';
export const OWNER_TENANT = 'isolation.tenancy.dev/tenant';
export const ISOLATED = 'isolation.tenancy.dev/isolated';
export const MEMBER_OF = 'isolation.tenancy.dev/member-of';
export const DENY = 'tenant-isolation-default-deny';
export const DNS = 'tenant-isolation-allow-dns';

const specOf = (t: TenantLike): ChurnSpec => (t.spec ?? {});
export const modeOf = (t: TenantLike): string => specOf(t).mode ?? 'Enforce';
export const isInvalid = (t: TenantLike): boolean => (specOf(t).allow?.ingressFrom ?? []).some((e) => (e.ports ?? []).some((p) => p.port === INVALID_PORT));
export const namesOf = (t: TenantLike): readonly string[] => specOf(t).namespaces ?? [];

/** Whether the tenant's spec claims a namespace with these labels: its selector matches, or it names it. */
export function claims(t: TenantLike, namespace: string, labels: Readonly<Record<string, string>> | undefined): boolean {
  const value = specOf(t).namespaceSelector?.matchLabels?.[TENANT_LABEL];
  return (value !== undefined && labels?.[TENANT_LABEL] === value) || namesOf(t).includes(namespace);
}

/** What decides a tenant's pod-gate bindings: its mode and what it claims (docs/security.md). */
export const claimKey = (t: TenantLike): string =>
  JSON.stringify([modeOf(t), specOf(t).namespaceSelector?.matchLabels?.[TENANT_LABEL], [...namesOf(t)].sort()]);

/**
 * The generation for which the tenant's status says pods in its namespaces wait for isolation
 * (Gated=True, PodsWaitForIsolation): the operator sets it only once the pod-gate bindings covering the
 * tenant are stored and in force (docs/security.md). Undefined: it does not say so.
 */
export function gatedGeneration(t: TenantLike): number | undefined {
  const s = t.status as TenantStatus | undefined;
  const gated = s?.conditions?.find((c) => c.type === 'Gated');
  return gated?.status === 'True' && gated.reason === 'PodsWaitForIsolation' ? gated.observedGeneration ?? s?.observedGeneration : undefined;
}

interface PolicySpec { policyTypes?: string[]; ingress?: unknown[]; egress?: unknown[] }

/** An operator's default-deny as the operator writes it: both directions, no rule. */
export function deniesBoth(p: Obj): boolean {
  const s = (p.spec ?? {}) as PolicySpec;
  return p.metadata.labels?.[MANAGED_BY] === OPERATOR && ['Ingress', 'Egress'].every((t) => s.policyTypes?.includes(t)) && !s.ingress?.length && !s.egress?.length;
}

/**
 * Whether version k of a policy's record still shows a marked break-glass write (a policy opened up, or
 * marked and deleted): walking back over versions that are not `restored` reaches a marked one. The
 * operator's repair can take more than one write (server-side apply keeps a field another manager set;
 * an update then replaces the object), and the excuse lasts until a restored version is stored.
 */
export function notRestoredSinceBreakGlass(vs: readonly Version[], k: number, breakGlass: ReadonlySet<bigint>, restored: (o: Obj) => boolean): boolean {
  for (let i = k; i >= 0; i--) {
    if (breakGlass.has(vs[i]!.rv)) return true;
    const o = vs[i]!.obj;
    if (o && restored(o)) return false;
  }
  return false;
}
