// Keeps a tenant's pod-gate bindings (src/admission/policies.ts tenantBindings) as its spec says, with the
// fewest writes, and says whether the gate holds: the policy is installed and the bindings are stored.
import type { Logger } from 'pino';
import { AUDIT_NOTICE, POD_GATE, bindingDigest, tenantBindings, type AdmissionBinding, type CachedBinding, type TenantClaims } from '../admission/policies.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { isNotFound, type RestClient } from '../kube/rest.ts';
import { FIELD_MANAGER, LABEL_TENANT } from '../policy/labels.ts';
import type { CachedAdmissionPolicy } from './caches.ts';

const BINDINGS = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
/**
 * The apiserver rebuilds its admission policies from their informers once a second (apiserver
 * policy_source.go, policyRefreshInterval): a stored binding gates pods only after that. Gated turns True
 * this long after the operator saw the binding stored, so the condition never claims a gate not yet in force.
 */
export const GATE_EFFECTIVE_AFTER_MS = 2_000;

/** What the tenant status says of the gate. */
export interface GateFacts {
  /** The policy its bindings use (undefined: the tenant asks for no gate, having no default-deny). */
  policy: typeof POD_GATE | typeof AUDIT_NOTICE | undefined;
  installed: boolean;
  /** Every wanted binding is stored as wanted, long enough to be in force. */
  bound: boolean;
  /** When `bound` is false only because a binding is too recent: come back after this long. */
  retryAfterMs?: number;
}

export class TenantGate {
  private readonly rest: RestClient;
  private readonly bindings: ResilientInformer<AdmissionBinding, CachedBinding>;
  private readonly policies: ResilientInformer<CachedAdmissionPolicy>;
  /** Our writes the binding informer has not delivered yet, by name (digest of what we wrote). */
  private readonly written = new Map<string, string>();
  /** When each binding was first seen stored as wanted (digest and time). */
  private readonly storedSince = new Map<string, { digest: string; at: number }>();

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
      // Stored as wanted, or written by us and not yet seen back.
      if (have?.digest === digest || this.written.get(b.metadata.name) === digest) continue;
      await this.rest.apply(`${BINDINGS}/${b.metadata.name}`, b, FIELD_MANAGER, true);
      this.written.set(b.metadata.name, digest);
      log.info({ tenant, binding: b.metadata.name }, 'wrote pod-gate binding');
    }
    const names = new Set(wanted.map((b) => b.metadata.name));
    for (const c of current) if (!names.has(c.metadata.name)) await this.delete(c.metadata.name, log, tenant);
    const now = Date.now();
    let stored = true;
    let youngest = 0;
    for (const b of wanted) {
      const digest = bindingDigest(b);
      if (current.find((c) => c.metadata.name === b.metadata.name)?.digest !== digest) { stored = false; continue; }
      const since = this.storedSince.get(b.metadata.name);
      const at = since?.digest === digest ? since.at : now;
      this.storedSince.set(b.metadata.name, { digest, at });
      this.written.delete(b.metadata.name);
      youngest = Math.max(youngest, at);
    }
    const wait = stored ? youngest + GATE_EFFECTIVE_AFTER_MS - now : 0;
    const installed = policy === undefined || this.policies.get(policy) !== undefined;
    return { policy, installed, bound: stored && wait <= 0, ...(stored && wait > 0 ? { retryAfterMs: wait } : {}) };
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
    this.storedSince.delete(name);
  }
}
