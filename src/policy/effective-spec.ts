// A tenant's effective settings: its own over its profile's, leaf by leaf. Defined here once; the operator,
// `render` and `verify` all reach it through parseTenant (src/api/schema.ts), which fills what is still
// absent with the built-in defaults and validates the result. The rules (docs/api.md, Profiles):
//   - every leaf (mode, defaultDeny.ingress, defaultDeny.egress, dns.enabled, dns.namespace,
//     dns.podSelector, dns.ports, dns.ipBlocks, intraTenant.enabled) is the tenant's when it sets it, else
//     the profile's, else the built-in default; lists and selectors are leaves (replaced, never merged);
//   - allow entries add up: the profile's (minus those the tenant's allow.exclude names), then the tenant's;
//   - allow.exclude drops inherited entries by name (both directions); a name no inherited entry carries
//     is an error, so a renamed profile entry cannot slip back in unnoticed: the tenant fails closed.
// Pure: type-only imports, no I/O.
import type { AllowRule, IsolationSettings, TenantIsolationSpecInput } from '../api/schema.ts';

export type EffectiveSettings = { ok: true; settings: Record<string, unknown> } | { ok: false; error: string };

/** The first of the values that is set. */
const first = <T>(...values: (T | undefined)[]): T | undefined => values.find((v) => v !== undefined);

/** The object without its undefined entries; undefined when nothing is left (the default applies whole). */
function present(o: Record<string, unknown>): Record<string, unknown> | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Merges a tenant's settings over its profile's (none: `profile` undefined). The result still lacks the
 * built-in defaults; parseTenant fills them and validates.
 */
export function effectiveSettings(tenant: TenantIsolationSpecInput, profile: { name: string; spec: IsolationSettings } | undefined): EffectiveSettings {
  const p: IsolationSettings = profile?.spec ?? {};
  const exclude = tenant.allow?.exclude ?? [];
  const inherited = [...(p.allow?.ingressFrom ?? []), ...(p.allow?.egressTo ?? [])];
  for (const [i, name] of exclude.entries()) {
    if (!profile) return { ok: false, error: `spec.allow.exclude[${i}]: the tenant inherits from no IsolationProfile, so there is no allow entry named ${name} to leave out` };
    if (!inherited.some((r) => r.name === name)) return { ok: false, error: `spec.allow.exclude[${i}]: IsolationProfile ${profile.name} has no allow entry named ${name}` };
  }
  const keep = (rules: readonly AllowRule[] | undefined): AllowRule[] => (rules ?? []).filter((r) => r.name === undefined || !exclude.includes(r.name));
  const t = tenant;
  const settings = present({
    mode: first(t.mode, p.mode),
    defaultDeny: present({ ingress: first(t.defaultDeny?.ingress, p.defaultDeny?.ingress), egress: first(t.defaultDeny?.egress, p.defaultDeny?.egress) }),
    dns: present({
      enabled: first(t.dns?.enabled, p.dns?.enabled),
      namespace: first(t.dns?.namespace, p.dns?.namespace),
      podSelector: first(t.dns?.podSelector, p.dns?.podSelector),
      ports: first(t.dns?.ports, p.dns?.ports),
      ipBlocks: first(t.dns?.ipBlocks, p.dns?.ipBlocks),
    }),
    intraTenant: present({ enabled: first(t.intraTenant?.enabled, p.intraTenant?.enabled) }),
    allow: present({
      ingressFrom: [...keep(p.allow?.ingressFrom), ...(t.allow?.ingressFrom ?? [])],
      egressTo: [...keep(p.allow?.egressTo), ...(t.allow?.egressTo ?? [])],
    }),
  }) ?? {};
  return { ok: true, settings };
}
