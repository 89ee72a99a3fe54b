// The policies a tenant's member namespaces should hold are the same in every member (desired.ts,
// memberTemplates): computed and hashed once per tenant spec and membership, shared by the namespace
// reconciler (what to write) and the tenant status (what counts as isolated).
import type { ValidTenant } from '../api/schema.ts';
import { strings } from '../kube/intern.ts';
import { memberTemplates } from '../policy/desired.ts';
import { ownedDigest } from '../policy/diff.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NetworkPolicy } from '../policy/types.ts';

export interface MemberPolicies {
  /** With metadata.namespace empty (desired.ts: inNamespace places them). */
  templates: readonly NetworkPolicy[];
  /** Policy name -> ownedDigest: what a member's stored policy must hash to. */
  digests: ReadonlyMap<string, string>;
}

export class DesiredPolicies {
  private readonly memo = new Map<string, { key: string; spec: ValidTenant['spec']; value: MemberPolicies }>();
  private readonly membership: MembershipIndex;

  constructor(membership: MembershipIndex) { this.membership = membership; }

  /** The tenant's member policies for its current members (`membership.membersOf`). */
  forTenant(tenant: ValidTenant): MemberPolicies {
    // The index bumps a tenant's version whenever its claimed or member set changes; a profile edit
    // replaces the tenant's effective spec without a new generation (hence the spec's identity).
    const key = `${tenant.uid}/${tenant.generation}/${this.membership.version(tenant.name)}`;
    const hit = this.memo.get(tenant.name);
    if (hit?.key === key && hit.spec === tenant.spec) return hit.value;
    const templates = memberTemplates(tenant, this.membership.membersOf(tenant.name));
    const value = { templates, digests: new Map(templates.map((t) => [t.metadata.name, strings.intern(ownedDigest(t))])) };
    this.memo.set(tenant.name, { key, spec: tenant.spec, value });
    return value;
  }

  forget(tenant: string): void { this.memo.delete(tenant); }
}
