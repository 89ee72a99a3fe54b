// Random churn of what users do: tenants created, edited, made invalid, switched to Audit, deleted;
// namespaces created, labelled, relabelled, deleted; user policies added (allow-alls among them);
// managed policies tampered with, operator labels forged (both as a cluster-admin's break-glass, marked so
// the checkers can tell them from the operator's writes); pods created at random moments, right after
// their labelled namespace (racing the operator) and right after a relabel, each attempt recorded for the
// admission checker. Every object carries the run's prefix, so the checker and the cleanup find exactly
// these. Requests that fail (a fault is on) are counted, not retried: the next quiet point checks
// whatever state they left.
import { ApiError } from '../../src/kube/api-errors.ts';
import type { RestClient } from '../../src/kube/rest.ts';
import type { PodAttempt } from './admission.ts';
import type { Random } from './random.ts';

export const TENANT_LABEL = 'chaos.tenancy.dev/tenant';
export const SHARED_LABEL = 'chaos.tenancy.dev/shared';
/** The one invalid spec the churn writes: a port name the CRD lets through and the operator refuses. */
export const INVALID_PORT = 'web--http';
const TI = '/apis/isolation.tenancy.dev/v1alpha1/tenantisolations';
const NP = (ns: string, name = '') => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies${name ? `/${name}` : ''}`;
const MANAGED = ['tenant-isolation-default-deny', 'tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant'];
const FM = 'chaos';
/** Set by the churn's break-glass writes to managed policies and operator labels. */
export const BREAK_GLASS_ANNOTATION = 'chaos.tenancy.dev/break-glass';
const POD_GATE = 'tenant-isolation-pod-gate';

interface TenantModel { name: string; mode: 'Enforce' | 'Audit'; intra: boolean; allow: boolean; invalid: boolean; names: string[] }

export interface ChurnStats { actions: Record<string, number>; failed: number; policyWrites: number }

export class Churn {
  private readonly rest: RestClient;
  private readonly rnd: Random;
  private readonly prefix: string;
  private readonly limits: { tenants: number; namespaces: number };
  private seq = 0;
  private readonly tenants = new Map<string, TenantModel>();
  private readonly namespaces = new Set<string>();
  /** The tenant label each namespace was last given (pods go mostly where a tenant may be). */
  private readonly labelled = new Map<string, string>();
  readonly stats: ChurnStats = { actions: {}, failed: 0, policyWrites: 0 };
  /** Every pod the churn tried to create, in order. */
  readonly pods: PodAttempt[] = [];
  /** Revisions of the churn's break-glass writes (a managed policy opened or marked for deletion, a forged label). */
  readonly breakGlass = new Set<bigint>();

  constructor(rest: RestClient, rnd: Random, prefix: string, limits = { tenants: 8, namespaces: 30 }) {
    this.rest = rest; this.rnd = rnd; this.prefix = prefix; this.limits = limits;
  }

  get changes(): number { return Object.values(this.stats.actions).reduce((a, b) => a + b, 0); }

  /** One random action; resolves when the apiserver answered (or the attempt failed). */
  async step(): Promise<void> {
    const nT = this.tenants.size;
    const nN = this.namespaces.size;
    const action = this.rnd.weighted({
      createTenant: nT < this.limits.tenants ? 3 : 0,
      editTenant: nT > 0 ? 3 : 0,
      makeInvalid: nT > 0 ? 1 : 0,
      switchMode: nT > 0 ? 1 : 0,
      claimByName: nT > 0 && nN > 0 ? 1 : 0,
      deleteTenant: nT > 2 ? 1 : 0,
      createNamespace: nN < this.limits.namespaces ? 5 : 0,
      relabel: nN > 0 ? 4 : 0,
      deleteNamespace: nN > 5 ? 1 : 0,
      userPolicy: nN > 0 ? 2 : 0,
      tamper: nN > 0 ? 3 : 0,
      forgeLabel: nN > 0 ? 1 : 0,
      createPod: nN > 0 ? 10 : 0,
    });
    this.stats.actions[action] = (this.stats.actions[action] ?? 0) + 1;
    try { await this[action](); } catch { this.stats.failed++; }
  }

  private signal(): AbortSignal { return AbortSignal.timeout(20_000); }
  private name(kind: string): string { return `${this.prefix}-${kind}${this.seq++}`; }
  private someTenant(): TenantModel | undefined { return this.rnd.pick([...this.tenants.values()]); }
  private someNamespace(): string | undefined { return this.rnd.pick([...this.namespaces]); }

  private async applyTenant(t: TenantModel): Promise<void> {
    const port = t.invalid ? INVALID_PORT : 8080;
    await this.rest.apply(`${TI}/${t.name}`, {
      apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: t.name },
      spec: {
        namespaceSelector: { matchLabels: { [TENANT_LABEL]: t.name } },
        ...(t.names.length > 0 ? { namespaces: t.names } : {}),
        mode: t.mode,
        intraTenant: { enabled: t.intra },
        ...(t.allow || t.invalid ? { allow: { ingressFrom: [{ namespaceSelector: { matchLabels: { [SHARED_LABEL]: 'true' } }, ports: [{ port }] }] } } : {}),
      },
    }, FM, true, { signal: this.signal() });
    this.tenants.set(t.name, t);
  }

  /** The run starts with enforcing tenants, so that namespaces and pods have somewhere to go from the first cycle. */
  async prepare(tenants: number): Promise<void> {
    for (let i = 0; i < tenants; i++) {
      this.stats.actions.createTenant = (this.stats.actions.createTenant ?? 0) + 1;
      await this.applyTenant({ name: this.name('t'), mode: 'Enforce', intra: true, allow: false, invalid: false, names: [] });
    }
  }

  private async createTenant(): Promise<void> {
    await this.applyTenant({ name: this.name('t'), mode: this.rnd.chance(0.15) ? 'Audit' : 'Enforce', intra: this.rnd.chance(0.8), allow: this.rnd.chance(0.3), invalid: false, names: [] });
  }

  /** Edits a tenant; an invalid one is fixed (so invalid specs do not pile up). */
  private async editTenant(): Promise<void> {
    const t = this.someTenant()!;
    await this.applyTenant(t.invalid ? { ...t, invalid: false } : { ...t, intra: this.rnd.chance(0.5) ? !t.intra : t.intra, allow: !t.allow });
  }

  private async makeInvalid(): Promise<void> { const t = this.someTenant()!; await this.applyTenant({ ...t, invalid: true }); }
  private async switchMode(): Promise<void> { const t = this.someTenant()!; await this.applyTenant({ ...t, mode: t.mode === 'Audit' ? 'Enforce' : 'Audit' }); }

  /** A tenant names a namespace explicitly (often one another tenant's selector claims: a conflict). */
  private async claimByName(): Promise<void> {
    const t = this.someTenant()!;
    const ns = this.someNamespace()!;
    await this.applyTenant({ ...t, names: t.names.includes(ns) ? t.names.filter((n) => n !== ns) : [...t.names, ns].slice(-2) });
  }

  private async deleteTenant(): Promise<void> {
    const t = this.someTenant()!;
    this.tenants.delete(t.name);
    await this.rest.delete(`${TI}/${t.name}`, undefined, { signal: this.signal() });
  }

  private async createNamespace(): Promise<void> {
    const ns = this.name('n');
    const t = this.rnd.chance(0.75) ? this.someTenant() : undefined;
    const labels: Record<string, string> = { ...(t ? { [TENANT_LABEL]: t.name } : {}), ...(this.rnd.chance(0.2) ? { [SHARED_LABEL]: 'true' } : {}) };
    this.namespaces.add(ns);
    if (t) this.labelled.set(ns, t.name);
    await this.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }, FM, { signal: this.signal() });
    // A pod at once, racing the operator, then again as a ReplicaSet would until admitted. It gives the
    // reachability proof something to protect. The namespace's default ServiceAccount, which pod
    // admission wants, appears moments after the namespace.
    for (const deadline = Date.now() + 10_000; ;) {
      if (await this.tryPod(ns, 'after-create') === 'admitted' || Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async createPod(): Promise<void> {
    const tenantish = [...this.namespaces].filter((n) => this.labelled.has(n));
    await this.tryPod((this.rnd.chance(0.8) ? this.rnd.pick(tenantish) : undefined) ?? this.someNamespace()!, 'random');
  }

  /** One pod create (stored, never run: no kubelet), recorded with its outcome and creation revision. */
  private async tryPod(ns: string, moment: PodAttempt['moment']): Promise<PodAttempt['outcome']> {
    const a: PodAttempt = { namespace: ns, name: `p${this.seq++}`, sentAt: performance.now(), moment, outcome: 'failed' };
    this.pods.push(a);
    try {
      const pod = await this.rest.create<{ metadata: { resourceVersion: string } }>(`/api/v1/namespaces/${ns}/pods`, {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: a.name, labels: { app: 'api' } },
        spec: { containers: [{ name: 'api', image: 'registry.invalid/api:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
      }, FM, { signal: this.signal() });
      a.outcome = 'admitted';
      a.rv = BigInt(pod.metadata.resourceVersion);
    } catch (e) {
      // Refused: the gate, or another admission check (the ServiceAccount not there yet, the namespace
      // terminating). Anything else may have been stored all the same: the History tells.
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) a.outcome = e.message.includes(POD_GATE) ? 'refused-by-gate' : 'refused';
    }
    return a.outcome;
  }

  private async relabel(): Promise<void> {
    const ns = this.someNamespace()!;
    const t = this.rnd.chance(0.8) ? this.someTenant() : undefined;
    if (t) this.labelled.set(ns, t.name); else this.labelled.delete(ns);
    await this.rest.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { [TENANT_LABEL]: t ? t.name : null } } }, FM, { signal: this.signal() });
    if (this.rnd.chance(0.5)) await this.tryPod(ns, 'after-relabel');
  }

  /** A cluster-admin sets an operator label (isolated=true, or member-of some tenant) on a namespace. */
  private async forgeLabel(): Promise<void> {
    const ns = this.someNamespace()!;
    const t = this.someTenant();
    const label = t && this.rnd.chance(0.5) ? { 'isolation.tenancy.dev/member-of': t.name } : { 'isolation.tenancy.dev/isolated': 'true' };
    const stored = await this.rest.mergePatch<{ metadata: { resourceVersion: string } }>(`/api/v1/namespaces/${ns}`, { metadata: { labels: label, annotations: { [BREAK_GLASS_ANNOTATION]: String(this.seq++) } } }, FM, { signal: this.signal() });
    this.breakGlass.add(BigInt(stored.metadata.resourceVersion));
  }

  private async deleteNamespace(): Promise<void> {
    const ns = this.someNamespace()!;
    this.namespaces.delete(ns);
    this.labelled.delete(ns);
    for (const t of this.tenants.values()) t.names = t.names.filter((n) => n !== ns);
    await this.rest.delete(`/api/v1/namespaces/${ns}`, undefined, { signal: this.signal() });
  }

  /** A user's own policy: an allow-all ingress (a breach the proof must report) or a narrow one. */
  private async userPolicy(): Promise<void> {
    const ns = this.someNamespace()!;
    const allowAll = this.rnd.chance(0.5);
    const name = this.name(allowAll ? 'user-allow-all' : 'user-web');
    this.stats.policyWrites++;
    await this.rest.create(NP(ns), {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name },
      spec: allowAll ? { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] }
        : { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }] },
    }, FM, { signal: this.signal() });
  }

  /**
   * A cluster-admin deletes a managed policy, or opens it to everything. The write is marked and its
   * revision kept; a deletion deletes exactly the marked version (a precondition), so the record shows
   * which deletion was the churn's.
   */
  private async tamper(): Promise<void> {
    const ns = this.someNamespace()!;
    const name = this.rnd.pick(MANAGED)!;
    const remove = this.rnd.chance(0.5);
    const mark = { metadata: { annotations: { [BREAK_GLASS_ANNOTATION]: String(this.seq++) } } };
    this.stats.policyWrites++;
    const stored = await this.rest.mergePatch<{ metadata: { resourceVersion: string } }>(NP(ns, name), remove ? mark : { ...mark, spec: { ingress: [{}] } }, FM, { signal: this.signal() });
    this.breakGlass.add(BigInt(stored.metadata.resourceVersion));
    if (!remove) return;
    this.stats.policyWrites++;
    await this.rest.delete(NP(ns, name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: stored.metadata.resourceVersion } }, { signal: this.signal() });
  }

  /** Deletes what the run created, as the apiserver lists it: tenants first (their finalizers need a running operator), then namespaces. */
  async cleanup(): Promise<void> {
    const mine = <T extends { metadata: { name: string } }>(items: T[]) => items.filter((o) => o.metadata.name.startsWith(`${this.prefix}-`));
    for (const t of mine((await this.rest.get<{ items: { metadata: { name: string } }[] }>(TI)).items)) await this.rest.delete(`${TI}/${t.metadata.name}`).catch(() => undefined);
    for (const n of mine((await this.rest.get<{ items: { metadata: { name: string } }[] }>('/api/v1/namespaces')).items)) await this.rest.delete(`/api/v1/namespaces/${n.metadata.name}`).catch(() => undefined);
  }
}
