// Random churn of what users do: tenants created, edited, made invalid, switched to Audit, deleted;
// namespaces created, labelled, relabelled, deleted; user policies added (allow-alls among them);
// managed policies tampered with. Every object carries the run's prefix, so the checker and the
// cleanup find exactly these. Requests that fail (a fault is on) are counted, not retried: the next
// quiet point checks whatever state they left.
import type { RestClient } from '../../src/kube/rest.ts';
import type { Random } from './random.ts';

export const TENANT_LABEL = 'chaos.tenancy.dev/tenant';
export const SHARED_LABEL = 'chaos.tenancy.dev/shared';
/** The one invalid spec the churn writes: a port name the CRD lets through and the operator refuses. */
export const INVALID_PORT = 'web--http';
const TI = '/apis/isolation.tenancy.dev/v1alpha1/tenantisolations';
const NP = (ns: string, name = '') => `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies${name ? `/${name}` : ''}`;
const MANAGED = ['tenant-isolation-default-deny', 'tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant'];
const FM = 'chaos';

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
  readonly stats: ChurnStats = { actions: {}, failed: 0, policyWrites: 0 };

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
    await this.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } }, FM, { signal: this.signal() });
    // A pod (stored, never run) gives the reachability proof something to protect. Its create waits for
    // the namespace's default ServiceAccount, which the controller-manager makes moments later.
    for (const deadline = Date.now() + 10_000; ;) {
      try {
        await this.rest.create(`/api/v1/namespaces/${ns}/pods`, {
          apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api', labels: { app: 'api' } },
          spec: { containers: [{ name: 'api', image: 'registry.invalid/api:1', ports: [{ name: 'http', containerPort: 8080 }] }] },
        }, FM, { signal: this.signal() });
        return;
      } catch (e) { if (Date.now() > deadline) throw e; await new Promise((r) => setTimeout(r, 200)); }
    }
  }

  private async relabel(): Promise<void> {
    const ns = this.someNamespace()!;
    const t = this.rnd.chance(0.8) ? this.someTenant() : undefined;
    await this.rest.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { [TENANT_LABEL]: t ? t.name : null } } }, FM, { signal: this.signal() });
  }

  private async deleteNamespace(): Promise<void> {
    const ns = this.someNamespace()!;
    this.namespaces.delete(ns);
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

  /** Someone deletes a managed policy, or opens it to everything. */
  private async tamper(): Promise<void> {
    const ns = this.someNamespace()!;
    const name = this.rnd.pick(MANAGED)!;
    this.stats.policyWrites++;
    if (this.rnd.chance(0.5)) await this.rest.delete(NP(ns, name), undefined, { signal: this.signal() });
    else await this.rest.mergePatch(NP(ns, name), { spec: { ingress: [{}] } }, FM, { signal: this.signal() });
  }

  /** Deletes what the run created, as the apiserver lists it: tenants first (their finalizers need a running operator), then namespaces. */
  async cleanup(): Promise<void> {
    const mine = <T extends { metadata: { name: string } }>(items: T[]) => items.filter((o) => o.metadata.name.startsWith(`${this.prefix}-`));
    for (const t of mine((await this.rest.get<{ items: { metadata: { name: string } }[] }>(TI)).items)) await this.rest.delete(`${TI}/${t.metadata.name}`).catch(() => undefined);
    for (const n of mine((await this.rest.get<{ items: { metadata: { name: string } }[] }>('/api/v1/namespaces')).items)) await this.rest.delete(`/api/v1/namespaces/${n.metadata.name}`).catch(() => undefined);
  }
}
