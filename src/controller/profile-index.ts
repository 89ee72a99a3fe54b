// Which tenants inherit from which IsolationProfile, kept by the event handlers, so a profile edit
// re-resolves exactly the tenants using it; and the profile lookup parseTenant uses, each profile parsed
// once per generation. A tenant naming no profile inherits from `default`, whether or not it exists yet:
// creating it later reaches them too.
import { DEFAULT_PROFILE, type ProfileLookup, type ResolvedProfile, type TenantIsolationObject } from '../api/schema.ts';
import { parseProfile, type IsolationProfileObject } from '../api/profile.ts';

/** The profile a stored tenant inherits from: the one it names, else `default` (read even from an invalid spec). */
export function profileNameOf(obj: Pick<TenantIsolationObject, 'spec'>): string {
  const named = (obj.spec as { profile?: unknown } | undefined)?.profile;
  return typeof named === 'string' ? named : DEFAULT_PROFILE;
}

export class ProfileIndex {
  private readonly byTenant = new Map<string, string>();
  private readonly byProfile = new Map<string, Set<string>>();
  private readonly parsed = new Map<string, { key: string; value: ResolvedProfile }>();
  private readonly get: (name: string) => IsolationProfileObject | undefined;

  constructor(get: (name: string) => IsolationProfileObject | undefined) { this.get = get; }

  /** For parseTenant: the profile's settings or why it is invalid; a profile being deleted is gone. */
  readonly lookup: ProfileLookup = (name) => {
    const obj = this.get(name);
    if (!obj || obj.metadata.deletionTimestamp) return undefined;
    const key = `${obj.metadata.uid}/${obj.metadata.generation ?? 0}`;
    let hit = this.parsed.get(name);
    if (hit?.key !== key) { hit = { key, value: parseProfile(obj) }; this.parsed.set(name, hit); }
    return hit.value;
  };

  /** Records the profile a tenant inherits from (undefined: none, it is gone); returns the profiles whose tenant list changed. */
  setTenant(tenant: string, profile: string | undefined): string[] {
    const before = this.byTenant.get(tenant);
    if (before === profile) return [];
    if (before !== undefined) {
      const s = this.byProfile.get(before);
      s?.delete(tenant);
      if (s?.size === 0) this.byProfile.delete(before);
      this.byTenant.delete(tenant);
    }
    if (profile !== undefined) {
      let s = this.byProfile.get(profile);
      if (!s) { s = new Set(); this.byProfile.set(profile, s); }
      s.add(tenant);
      this.byTenant.set(tenant, profile);
    }
    return [before, profile].filter((p): p is string => p !== undefined);
  }

  /** The tenants inheriting from the profile, sorted. */
  tenantsOf(profile: string): string[] { return [...(this.byProfile.get(profile) ?? [])].sort(); }

  /** A profile is gone: forget its parsed copy. */
  forget(profile: string): void { this.parsed.delete(profile); }
}
