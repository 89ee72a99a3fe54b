// How each tenant's intra-tenant policies name its members: by the guarded member label, or by name.
// A tenant's status records the mode (`intraTenantPeers`); the switch between the two is made by the
// status (tenant-status.ts peerMode) once it is safe. A tenant whose status records no mode yet, that
// holds no policy anywhere and whose member label no namespace carries starts by label: with no member
// isolated there is nothing to switch, and no stranger can hold the label (only the operator sets it,
// and none carries it now; the switch from names checks the same, tenant-status.ts). Without
// that, a burst creating tenants with their namespaces (their first status waits for the namespaces to
// settle) wrote every member by name first, each join rewriting every other member, then switched and
// rewrote them all again.
// The choice is kept here until the status records it (the status records it only while no stranger
// carries the label), and forgotten when the guard goes. An operator restarting before that finds the
// tenant's policies stored and names its members, then switches as any tenant does (both ways are safe:
// membership-label.test.ts checks every intermediate state); a standby, whose handlers choose too, keeps
// its own choice through a handover.
import type { PeerMode, TenantIsolationObject } from '../api/schema.ts';

export interface PeerModeFacts {
  /** Whether the admission gate guards the member label right now. */
  guarded(): boolean;
  tenant(name: string): TenantIsolationObject | undefined;
  /** Whether any namespace holds a policy of this tenant (the policy cache). */
  holdsPolicies(tenant: string): boolean;
  /** Whether any namespace carries this tenant's member label (a former member, say). */
  labelled(tenant: string): boolean;
  /** Whether the caches have synced: before, the policy cache may not yet hold what is stored. */
  synced(): boolean;
}

export class PeerModes {
  /** Tenants whose status records no mode yet: the mode chosen for them, by name, for this uid. */
  private readonly unrecorded = new Map<string, { uid: string; peers: PeerMode }>();
  private readonly facts: PeerModeFacts;

  constructor(facts: PeerModeFacts) { this.facts = facts; }

  /** The mode the tenant's policies use now; for a tenant not yet recorded, chosen on the first ask and kept. */
  of(name: string): PeerMode {
    if (!this.facts.guarded()) {
      // Names at once when the guard goes; a tenant still unrecorded when it returns holds policies by name.
      this.unrecorded.clear();
      return 'NamespaceNames';
    }
    const obj = this.facts.tenant(name);
    if (obj === undefined) return 'NamespaceNames';
    const recorded = obj.status?.intraTenantPeers;
    if (recorded !== undefined) return recorded;
    const chosen = this.chosenFor(obj);
    if (chosen !== undefined) return chosen;
    if (!this.facts.synced()) return 'NamespaceNames';
    const peers: PeerMode = this.facts.holdsPolicies(name) || this.facts.labelled(name) ? 'NamespaceNames' : 'MembershipLabel';
    this.unrecorded.set(name, { uid: obj.metadata.uid, peers });
    return peers;
  }

  /**
   * The mode a tenant object's policies use: its status's, else the one chosen for it while unrecorded
   * (undefined if none was). Compares a tenant's old and new object without choosing anything.
   */
  inUse(obj: TenantIsolationObject): PeerMode | undefined { return obj.status?.intraTenantPeers ?? this.chosenFor(obj); }

  /** The mode chosen for this very tenant (same name and uid), if any. */
  private chosenFor(obj: TenantIsolationObject): PeerMode | undefined {
    const chosen = this.unrecorded.get(obj.metadata.name);
    return chosen?.uid === obj.metadata.uid ? chosen.peers : undefined;
  }

  /**
   * The guard was installed or removed: without it, every choice is forgotten now (standbys, which run no
   * reconcile, would otherwise keep theirs through an outage and act on them as leader).
   */
  guardChanged(): void { if (!this.facts.guarded()) this.unrecorded.clear(); }

  /** Its status records a mode now, or it is gone: the status rules from here. */
  settle(name: string): void { this.unrecorded.delete(name); }
}
