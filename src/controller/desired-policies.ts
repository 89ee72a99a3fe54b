// The policies a tenant's member namespaces should hold are the same in every member (desired.ts,
// memberTemplates): computed and hashed once per tenant spec and membership, shared by the namespace
// reconciler (what to write) and the tenant status (what counts as isolated).
import type { PeerMode, ValidTenant } from '../api/schema.ts';
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
  private readonly peersOf: (tenant: string) => PeerMode;

  constructor(membership: MembershipIndex, peersOf: (tenant: string) => PeerMode) { this.membership = membership; this.peersOf = peersOf; }

  /**
   * The policies of the tenant's members (with `members` when they are not the index's current list,
   * e.g. a namespace about to be listed) in its peer mode.
   */
  templatesFor(tenant: ValidTenant, members: readonly string[]): readonly NetworkPolicy[] {
    if (members === this.membership.membersOf(tenant.name) || this.peersOf(tenant.name) === 'MembershipLabel') return this.forTenant(tenant).templates;
    return memberTemplates(tenant, members, this.peersOf(tenant.name));
  }

  /** The tenant's member policies for its current members (`membership.membersOf`) and peer mode. */
  forTenant(tenant: ValidTenant): MemberPolicies {
    const peers = this.peersOf(tenant.name);
    // By name, the policies follow the members (the index bumps a tenant's version whenever its claimed or
    // member set changes); by label they do not. A profile edit replaces the tenant's effective spec
    // without a new generation (hence the spec's identity).
    const key = `${tenant.uid}/${tenant.generation}/${peers}/${peers === 'NamespaceNames' ? this.membership.version(tenant.name) : ''}`;
    const hit = this.memo.get(tenant.name);
    if (hit?.key === key && hit.spec === tenant.spec) return hit.value;
    const templates = memberTemplates(tenant, this.membership.membersOf(tenant.name), peers);
    const value = { templates, digests: new Map(templates.map((t) => [t.metadata.name, strings.intern(ownedDigest(t))])) };
    this.memo.set(tenant.name, { key, spec: tenant.spec, value });
    return value;
  }

  forget(tenant: string): void { this.memo.delete(tenant); }
}
