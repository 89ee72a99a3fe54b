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
  /**
   * Per tenant, the digests (what hashing cost is worth keeping) and, for the tenants used most recently,
   * the templates: rebuilding them is cheap, and at 10 000 tenants keeping every tenant's would hold
   * tens of megabytes for nothing (a tenant's templates are needed only while its namespaces reconcile).
   */
  private readonly memo = new Map<string, { key: string; spec: ValidTenant['spec']; value: MemberPolicies | undefined; digests: ReadonlyMap<string, string> }>();
  /** Tenants whose templates are kept, least recently used first. */
  private readonly withTemplates = new Set<string>();
  private readonly membership: MembershipIndex;
  private readonly peersOf: (tenant: string) => PeerMode;
  /** How many tenants' templates are kept. */
  static readonly TEMPLATES_KEPT = 256;

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
    const key = this.keyOf(tenant, peers);
    let hit = this.memo.get(tenant.name);
    if (hit?.key !== key || hit.spec !== tenant.spec) hit = undefined;
    if (hit?.value) { this.touch(tenant.name); return hit.value; }
    const templates = memberTemplates(tenant, this.membership.membersOf(tenant.name), peers);
    // The same templates hash the same: a tenant whose templates were let go keeps its digests (and the
    // maps namespace reconcilers share with it).
    const digests = hit?.digests ?? digestsOfTemplates(templates);
    const value = { templates, digests };
    this.memo.set(tenant.name, { key, spec: tenant.spec, value, digests });
    this.touch(tenant.name);
    return value;
  }

  /** Policy name -> ownedDigest of the tenant's member policies (as forTenant's, without keeping its templates). */
  digestsOf(tenant: ValidTenant): ReadonlyMap<string, string> {
    const hit = this.memo.get(tenant.name);
    const peers = this.peersOf(tenant.name);
    const key = this.keyOf(tenant, peers);
    if (hit && hit.key === key && hit.spec === tenant.spec) return hit.digests;
    // Hashed from templates that are not kept (the tenant status asks for every tenant; only reconciles keep templates).
    const digests = digestsOfTemplates(memberTemplates(tenant, this.membership.membersOf(tenant.name), peers));
    this.withTemplates.delete(tenant.name);
    this.memo.set(tenant.name, { key, spec: tenant.spec, value: undefined, digests });
    return digests;
  }

  /** How many tenants' templates are kept now (at most TEMPLATES_KEPT). */
  get templatesKept(): number { return this.withTemplates.size; }

  /**
   * What the tenant's policies depend on besides its spec: by name they follow the members (the index bumps
   * a tenant's version whenever its claimed or member set changes); by label they do not. A profile edit
   * replaces the tenant's effective spec without a new generation (hence the spec's identity, compared too).
   */
  private keyOf(tenant: ValidTenant, peers: PeerMode): string {
    return `${tenant.uid}/${tenant.generation}/${peers}/${peers === 'NamespaceNames' ? this.membership.version(tenant.name) : ''}`;
  }

  forget(tenant: string): void { this.memo.delete(tenant); this.withTemplates.delete(tenant); }

  /** Marks the tenant's templates most recently used; lets go of the least recently used beyond the bound. */
  private touch(tenant: string): void {
    this.withTemplates.delete(tenant);
    this.withTemplates.add(tenant);
    if (this.withTemplates.size <= DesiredPolicies.TEMPLATES_KEPT) return;
    const oldest = this.withTemplates.values().next().value!;
    this.withTemplates.delete(oldest);
    const m = this.memo.get(oldest);
    if (m) m.value = undefined;
  }
}

const digestsOfTemplates = (templates: readonly NetworkPolicy[]): ReadonlyMap<string, string> =>
  new Map(templates.map((t) => [t.metadata.name, strings.intern(ownedDigest(t))]));
