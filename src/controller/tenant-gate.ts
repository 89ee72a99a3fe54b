// Keeps a tenant's pod-gate bindings (src/admission/policies.ts tenantBindings) as its spec says, with the
// fewest writes, and says whether the gate holds: the policy is installed and the bindings are stored.
import type { Logger } from 'pino';
import { AUDIT_NOTICE, POD_GATE, bindingDigest, tenantBindings, type AdmissionBinding, type CachedBinding, type TenantClaims } from '../admission/policies.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { isNotFound, type RestClient } from '../kube/rest.ts';
import { FIELD_MANAGER, LABEL_TENANT } from '../policy/labels.ts';
import type { CachedAdmissionPolicy } from './caches.ts';

const BINDINGS = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';

/** What the tenant status says of the gate. */
export interface GateFacts {
  /** The policy its bindings use (undefined: the tenant asks for no gate, having no default-deny). */
  policy: typeof POD_GATE | typeof AUDIT_NOTICE | undefined;
  installed: boolean;
  /** Every wanted binding is stored as wanted. */
  bound: boolean;
}

export class TenantGate {
  private readonly rest: RestClient;
  private readonly bindings: ResilientInformer<AdmissionBinding, CachedBinding>;
  private readonly policies: ResilientInformer<CachedAdmissionPolicy>;
  /** Our writes the binding informer has not delivered yet, by name (digest of what we wrote). */
  private readonly written = new Map<string, string>();

  constructor(rest: RestClient, bindings: ResilientInformer<AdmissionBinding, CachedBinding>, policies: ResilientInformer<CachedAdmissionPolicy>) {
    this.rest = rest; this.bindings = bindings; this.policies = policies;
  }

  private stored(tenant: string): CachedBinding[] {
    return this.bindings.list().filter((b) => b.metadata.labels?.[LABEL_TENANT] === tenant);
  }

  /**
   * Makes the tenant's bindings what `claims` asks for (undefined: leave them as they are, as for a spec so
   * invalid that it names no namespace: what gated its namespaces keeps gating them).
   */
  async sync(tenant: string, claims: TenantClaims | undefined, reserved: readonly string[], log: Logger): Promise<GateFacts> {
    const current = this.stored(tenant);
    if (!claims) return { policy: undefined, installed: true, bound: current.length > 0 };
    const wanted = tenantBindings(claims, reserved);
    const policy = wanted.length === 0 ? undefined : claims.mode === 'Enforce' ? POD_GATE : AUDIT_NOTICE;
    for (const b of wanted) {
      const digest = bindingDigest(b);
      const have = current.find((c) => c.metadata.name === b.metadata.name);
      if (have?.digest === digest || (!have && this.written.get(b.metadata.name) === digest)) continue;
      await this.rest.apply(`${BINDINGS}/${b.metadata.name}`, b, FIELD_MANAGER, true);
      this.written.set(b.metadata.name, digest);
      log.info({ tenant, binding: b.metadata.name }, 'wrote pod-gate binding');
    }
    const names = new Set(wanted.map((b) => b.metadata.name));
    for (const c of current) if (!names.has(c.metadata.name)) await this.delete(c.metadata.name, log, tenant);
    const bound = wanted.every((b) => current.find((c) => c.metadata.name === b.metadata.name)?.digest === bindingDigest(b));
    if (bound) for (const b of wanted) this.written.delete(b.metadata.name);
    return { policy, installed: policy === undefined || this.policies.get(policy) !== undefined, bound };
  }

  /** Removes every binding of the tenant (it is being deleted); whether none is left in the cache. */
  async remove(tenant: string, log: Logger): Promise<boolean> {
    const current = this.stored(tenant);
    for (const c of current) await this.delete(c.metadata.name, log, tenant);
    return current.length === 0;
  }

  private async delete(name: string, log: Logger, tenant: string): Promise<void> {
    try {
      await this.rest.delete(`${BINDINGS}/${name}`);
      log.info({ tenant, binding: name }, 'removed pod-gate binding');
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.written.delete(name);
  }
}
