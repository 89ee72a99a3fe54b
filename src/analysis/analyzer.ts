// IsolationAnalyzer: the tenant proof, pure and incremental. Feed it namespaces, pods, policies and
// tenants (whole snapshots or one event at a time); ask for each tenant's breaches — the paths that cross
// its boundary without being declared — or for cluster-wide views. Its parts:
//   model.ts         the cluster: namespaces, pod classes, compiled policies; verdict and peer queries
//   tenant-model.ts  tenants: members and declared paths
//   dependencies.ts  what each cached result read, and which results a change invalidates
//   engine.ts        the breach computation, in pieces per peer namespace
//   views.ts         allowed pairs, the tenant matrix, unselected pods (for `verify`)
import type { ValidTenant } from '../api/schema.ts';
import { DependencyTracker } from './dependencies.ts';
import { BreachEngine, DEFAULT_EXTERNAL_SAMPLES, type Breach, type TenantResult } from './engine.ts';
import { ClusterModel } from './model.ts';
import { TenantModels } from './tenant-model.ts';
import type { NamespaceInfo, PodInfo, PolicyInput, Protocol, Snapshot } from './types.ts';
import { allowedPairs, connections, namespacePairs, podsSelectedByNoPolicy, tenantMatrix, type Connection, type TenantMatrix } from './views.ts';

export { DEFAULT_EXTERNAL_SAMPLES, type Breach } from './engine.ts';
export { NON_TENANT, type Connection, type TenantMatrix } from './views.ts';

export interface AnalyzerOptions {
  /** Addresses standing for "outside the cluster" besides those derived from ipBlocks. */
  externalSamples?: readonly string[];
  /**
   * Pods without an IP may be at any address (manifests: they get one later, nobody knows which), so any
   * ipBlock may hold them. Off for a live cluster: a pod has no network before its address, and its
   * verdicts come with it (a pending pod would otherwise look reachable through every ipBlock's except).
   */
  podsWithoutIpAnywhere?: boolean;
}

export class IsolationAnalyzer {
  private readonly model: ClusterModel;
  private readonly tenants: TenantModels;
  private readonly tracker: DependencyTracker<TenantResult>;
  private readonly engine: BreachEngine;

  constructor(options: AnalyzerOptions = {}) {
    this.tracker = new DependencyTracker<TenantResult>((ns) => this.tenants.ownersOf(ns));
    this.model = new ClusterModel(this.tracker, options.podsWithoutIpAnywhere === true);
    this.tenants = new TenantModels(this.model, this.tracker);
    this.engine = new BreachEngine(this.model, this.tenants, this.tracker, options.externalSamples ?? DEFAULT_EXTERNAL_SAMPLES);
  }

  /** The snapshot's podsWithoutIpAnywhere, unless `options` says otherwise. */
  static fromSnapshot(snapshot: Snapshot, tenants: readonly ValidTenant[] = [], membership: ReadonlyMap<string, readonly string[]> = new Map(), options: AnalyzerOptions = {}): IsolationAnalyzer {
    const a = new IsolationAnalyzer({ podsWithoutIpAnywhere: snapshot.podsWithoutIpAnywhere, ...options });
    for (const n of snapshot.namespaces) a.setNamespace(n);
    for (const p of snapshot.policies) a.setPolicy(p);
    a.setTenants(tenants, membership);
    for (const p of snapshot.pods) a.setPod(p);
    return a;
  }

  setNamespace(ns: NamespaceInfo): void { this.model.setNamespace(ns); }
  deleteNamespace(name: string): void { this.model.deleteNamespace(name); }
  setPod(info: PodInfo): void { this.model.setPod(info); }
  deletePod(namespace: string, name: string): void { this.model.deletePod(namespace, name); }
  setPolicy(p: PolicyInput): void { this.model.setPolicy(p); }
  deletePolicy(namespace: string, name: string): void { this.model.deletePolicy(namespace, name); }

  /**
   * Replaces the tenants. `membership` maps a tenant to its member namespaces (use the exclusive members,
   * MembershipIndex.membersOf: a namespace several tenants claim belongs to none of them). Only tenants
   * whose spec or members changed are recomputed.
   */
  setTenants(tenants: readonly ValidTenant[], membership: ReadonlyMap<string, readonly string[]>): void { this.tenants.setAll(tenants, membership); }
  /** Adds or replaces one tenant (its members as in `setTenants`); a no-op when spec and members are unchanged. */
  setTenant(t: ValidTenant, members: readonly string[]): void { this.tenants.set(t, members); }
  deleteTenant(name: string): void { this.tenants.delete(name); }
  tenantNames(): string[] { return this.tenants.names(); }
  /** The tenants a namespace belongs to (sorted; empty for none). */
  tenantsOf(namespace: string): string[] { return [...this.tenants.ownersOf(namespace)].sort(); }

  /** Tenants whose breaches may have changed since the last call (including removed ones), then forgets them. */
  takeTouched(): string[] { return this.tracker.takeTouched(); }

  /** The tenant's undeclared paths (incremental: only what changes invalidated is recomputed). */
  breaches(tenant: string): Breach[] { return this.engine.breaches(tenant); }

  /** Every tenant's breaches (recomputing only what changes invalidated). */
  allBreaches(): Map<string, Breach[]> {
    return new Map(this.tenantNames().map((t) => [t, this.breaches(t)]));
  }

  /** Pods no policy selects for Ingress ("ns/name", sorted): what Gatekeeper's require-networkpolicy flags. */
  podsSelectedByNoPolicy(): string[] { return podsSelectedByNoPolicy(this.model); }

  /** Every ordered pair of distinct pods ("ns/name") whose connection on port/protocol is allowed. */
  allowedPairs(port: number, protocol: Protocol = 'TCP'): [string, string][] { return allowedPairs(this.model, port, protocol); }

  /** Allowed pod pairs on port/protocol per ordered pair of distinct namespaces (for the drawn views). */
  namespacePairs(port: number, protocol: Protocol = 'TCP'): { from: string; to: string; pairs: number }[] { return namespacePairs(this.model, port, protocol); }

  /** Every allowed pod-to-pod connection with its exact ports, sorted by source then destination (for `verify diff`). */
  connections(): Connection[] { return connections(this.model); }

  /** Allowed pod pairs counted per (source tenant, destination tenant); pods outside tenants count as NON_TENANT. */
  tenantMatrix(port: number, protocol: Protocol = 'TCP'): TenantMatrix { return tenantMatrix(this.model, this.tenants, port, protocol); }

  /** The current state as a plain snapshot (for `decide`). */
  snapshot(): Snapshot {
    return {
      namespaces: [...this.model.namespaces.entries()].filter(([name]) => this.model.explicitNamespaces.has(name)).map(([name, labels]) => ({ name, labels })),
      pods: [...this.model.pods.values()].map((r) => r.info),
      policies: [...this.model.policyInputs()],
      ...(this.model.withoutIpAnywhere ? { podsWithoutIpAnywhere: true } : {}),
    };
  }

  /** Sizes, plus how many tenant results were computed in full and how many peer-namespace pieces were recomputed. */
  stats(): { namespaces: number; pods: number; classes: number; policies: number; ipBlocks: number; cachedTenants: number; recomputations: number; partialRecomputations: number } {
    const m = this.model;
    return {
      namespaces: m.namespaces.size, pods: m.pods.size, classes: m.classes.size, policies: m.policyTotal,
      ipBlocks: m.blocks.all().length, cachedTenants: this.tracker.results.size,
      recomputations: this.engine.recomputations, partialRecomputations: this.engine.partialRecomputations,
    };
  }
}

/** One-shot convenience: every tenant's breaches for a snapshot. */
export function tenantBreaches(snapshot: Snapshot, tenants: readonly ValidTenant[], membership: ReadonlyMap<string, readonly string[]>, options: AnalyzerOptions = {}): Map<string, Breach[]> {
  return IsolationAnalyzer.fromSnapshot(snapshot, tenants, membership, options).allBreaches();
}
