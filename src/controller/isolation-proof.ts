// The tenant proof inside the operator: the live cluster (cached) goes into the incremental
// IsolationAnalyzer; after changes settle (a short debounce), tenants whose breaches changed are
// enqueued, so their Isolated condition follows within a second without re-analysing the whole cluster.
import { hash } from 'node:crypto';
import { IsolationAnalyzer, type Breach } from '../analysis/analyzer.ts';
import type { PodInfo, Protocol } from '../analysis/types.ts';
import type { ValidTenant } from '../api/schema.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { CachedPolicy } from '../policy/diff.ts';
import { ValueInterner, internLabels, labelSets, strings } from '../kube/intern.ts';

/** The fields of a Pod the analysis reads (the pod informer keeps only these). */
export interface PodObject {
  metadata: { name: string; namespace: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { hostNetwork?: boolean; containers?: ContainerObject[]; initContainers?: ContainerObject[] };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}

interface ContainerObject { ports?: { name?: string; containerPort: number; protocol?: string }[] }

export function podInfo(p: PodObject): PodInfo {
  const ips = p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : []);
  return {
    namespace: p.metadata.namespace,
    name: p.metadata.name,
    labels: p.metadata.labels ?? {},
    ips,
    // Init containers' ports too, all of them, not only native sidecars' (restartPolicy: Always): Calico and
    // others resolve named ports on them, and a name resolving to more ports makes rules admit more, never less.
    containerPorts: [...(p.spec?.containers ?? []), ...(p.spec?.initContainers ?? [])].flatMap((c) => c.ports ?? []).map((cp) => ({
      ...(cp.name ? { name: cp.name } : {}), containerPort: cp.containerPort, protocol: (cp.protocol ?? 'TCP') as Protocol,
    })),
    hostNetwork: p.spec?.hostNetwork === true,
  };
}

/** A Pod as the operator caches it: identity, and the analyzer's view of it (no second copy). */
export interface CachedPod {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  info: PodInfo;
}

const portLists = new ValueInterner<PodInfo['containerPorts']>();

/** Reduces a Pod to a CachedPod; strings, label sets and port lists that pods repeat are kept once. */
export function compactPod(p: PodObject): CachedPod {
  const info = podInfo(p);
  const namespace = strings.intern(info.namespace);
  return {
    metadata: { name: info.name, namespace, resourceVersion: p.metadata.resourceVersion },
    info: { ...info, namespace, labels: labelSets.intern(internLabels(info.labels) ?? {}), containerPorts: portLists.intern(info.containerPorts) },
  };
}

export class IsolationProof {
  private readonly analyzer = new IsolationAnalyzer();
  private readonly index: MembershipIndex;
  private readonly onChanged: (tenant: string) => void;
  private readonly debounceMs: number;
  /** Tenants whose spec or membership changed since the analyzer last heard of them; undefined = all. */
  private dirtyTenants: Set<string> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Per tenant, a digest of the breach messages last published (a change re-queues the tenant). */
  private readonly published = new Map<string, string>();
  /** Breaching paths per tenant, as of the last sweep (metrics). */
  readonly counts = new Map<string, number>();
  private active = false;

  constructor(index: MembershipIndex, onChanged: (tenant: string) => void, debounceMs = 50) {
    this.index = index; this.onChanged = onChanged; this.debounceMs = debounceMs;
  }

  setNamespace(name: string, labels: Record<string, string> | undefined): void { this.analyzer.setNamespace({ name, labels: labels ?? {} }); this.changed(); }
  deleteNamespace(name: string): void { this.analyzer.deleteNamespace(name); this.changed(); }
  setPod(p: CachedPod): void { this.analyzer.setPod(p.info); this.changed(); }
  deletePod(p: CachedPod): void { this.analyzer.deletePod(p.metadata.namespace, p.metadata.name); this.changed(); }
  /** The cached policy must keep its spec (the policy cache keeps specs when the proof is on). */
  setPolicy(p: CachedPolicy): void {
    if (p.spec) this.analyzer.setPolicy({ metadata: p.metadata, spec: p.spec }); else this.analyzer.deletePolicy(p.metadata.namespace, p.metadata.name);
    this.changed();
  }
  deletePolicy(p: CachedPolicy): void { this.analyzer.deletePolicy(p.metadata.namespace, p.metadata.name); this.changed(); }
  /** These tenants' specs or membership changed (or they were removed); no argument: any may have. */
  tenantsChanged(names?: Iterable<string>): void {
    if (names === undefined) this.dirtyTenants = undefined;
    else if (this.dirtyTenants !== undefined) for (const n of names) this.dirtyTenants.add(n);
    this.changed();
  }

  /** Starts publishing changes (after the caches synced; before that everything is one initial load). */
  start(): void { this.active = true; this.sweep(); }
  stop(): void { this.active = false; if (this.timer) clearTimeout(this.timer); }

  /** Pods no policy selects for ingress ("ns/name", sorted), as the caches show them now. */
  podsSelectedByNoPolicy(): string[] { return this.analyzer.podsSelectedByNoPolicy(); }

  /** The tenant's current breaches (incremental: only what changes invalidated is recomputed). */
  breaches(tenant: string): Breach[] {
    this.syncTenants();
    return this.analyzer.breaches(tenant);
  }

  private syncTenants(): void {
    const dirty = this.dirtyTenants;
    this.dirtyTenants = new Set();
    if (dirty === undefined) {
      const tenants = this.index.tenantNames().map((n) => this.index.tenant(n)).filter((t): t is ValidTenant => t !== undefined && t.invalid === undefined);
      this.analyzer.setTenants(tenants, new Map(tenants.map((t) => [t.name, this.index.membersOf(t.name)])));
      return;
    }
    // Only what changed: a namespace event touches one or two tenants, not the thousands that exist.
    for (const name of dirty) {
      // A tenant whose spec is invalid declares nothing to prove (its status says InvalidSpec).
      const t = this.index.tenant(name);
      if (t && t.invalid === undefined) this.analyzer.setTenant(t, this.index.membersOf(name)); else this.analyzer.deleteTenant(name);
    }
  }

  private changed(): void {
    if (!this.active || this.timer) return;
    this.timer = setTimeout(() => { this.timer = undefined; this.sweep(); }, this.debounceMs);
    this.timer.unref();
  }

  private sweep(): void {
    this.syncTenants();
    // Only tenants whose result may have changed are recomputed and compared.
    for (const tenant of this.analyzer.takeTouched()) {
      if (this.index.tenant(tenant)?.invalid !== undefined || !this.index.tenant(tenant)) { this.published.delete(tenant); this.counts.delete(tenant); continue; }
      const breaches = this.analyzer.breaches(tenant);
      // A digest, not the messages: a tenant with many breaches would otherwise keep them all twice.
      const sig = hash('sha256', breaches.map((b) => b.message).join('\n'), 'base64url');
      if (breaches.length > 0) this.counts.set(tenant, breaches.length); else this.counts.delete(tenant);
      if (this.published.get(tenant) !== sig) { this.published.set(tenant, sig); this.onChanged(tenant); }
    }
  }
}
