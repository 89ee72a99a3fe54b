// IsolationProfile: a named set of the tenant settings that are not about membership (mode, defaultDeny,
// dns, intraTenant, allow), which TenantIsolations inherit (spec.profile; `default` for those naming none).
// The schema is the inheritable part of the TenantIsolation spec (src/api/schema.ts); how a tenant's own
// settings combine with its profile's is src/policy/effective-spec.ts.
import { z } from 'zod';
import { condition, formatIssues, isolationSettings, type Condition, type ProfileLookup, type ResolvedProfile } from './schema.ts';

export const isolationProfileSpec = isolationSettings.meta({
  description: 'Settings TenantIsolations inherit: a tenant\'s own settings override these leaf by leaf; allow entries add up (a tenant drops a named one with allow.exclude).',
});

/** At most this many tenant names in status (the count is always exact). */
export const PROFILE_STATUS_TENANTS_MAX = 1000;

export const isolationProfileStatus = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().meta({ description: 'The metadata.generation this status describes.', format: 'int64' }),
  conditions: z.array(condition).optional().meta({ description: 'Ready: the profile is valid (Valid) or not (InvalidSpec, naming the field); its tenants fail closed while it is invalid.', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  tenantCount: z.number().int().min(0).optional().meta({ description: 'How many TenantIsolations inherit from this profile.', format: 'int32' }),
  tenants: z.array(z.string().max(253)).max(PROFILE_STATUS_TENANTS_MAX).optional().meta({ description: 'The TenantIsolations that inherit from this profile, sorted (the first 1000).', 'x-kubernetes-list-type': 'atomic' }),
}).meta({ description: 'What the operator observed.' });

export type IsolationProfileStatus = z.infer<typeof isolationProfileStatus>;

/** A cluster-scoped object of ours as stored: its spec is parsed where it is used (it may be invalid). */
export interface StoredClusterObject<Status> {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; uid: string; generation?: number; resourceVersion?: string; deletionTimestamp?: string };
  spec?: unknown;
  status?: Status;
}

export type IsolationProfileObject = StoredClusterObject<IsolationProfileStatus>;

/** A profile's settings, or why they are invalid (its tenants then fail closed). */
export function parseProfile(obj: Pick<IsolationProfileObject, 'metadata' | 'spec'>): ResolvedProfile {
  const name = obj.metadata.name;
  const r = isolationProfileSpec.safeParse(obj.spec ?? {});
  return r.success ? { name, spec: r.data } : { name, error: formatIssues(r.error) };
}

/** Profiles read from manifests or a list, as parseTenant looks them up. */
export function profileLookupOf(profiles: readonly Pick<IsolationProfileObject, 'metadata' | 'spec'>[]): ProfileLookup {
  const byName = new Map(profiles.map((p) => [p.metadata.name, parseProfile(p)]));
  return (name) => byName.get(name);
}

export type { Condition };
