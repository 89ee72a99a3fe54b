// Keeps the pod-gate bindings (src/admission/policies.ts gateBindings) as the tenants say, with the fewest
// writes, and tells each tenant whether its namespaces are gated. One key for the whole cluster: the
// bindings are shared between tenants (one per label key), so they are reconciled together.
import type { Logger } from 'pino';
import {
  AUDIT_NOTICE, MEMBER_LABEL_GUARD, POD_GATE, bindingDigest, bindingsCovering, compactBinding, covers, gateBindings, gatePolicyOf, narrows,
  type AdmissionBinding, type CachedBinding, type TenantClaims,
} from '../admission/policies.ts';
import { AssumedWrites } from '../kube/assumed.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { isNotFound, type RestClient } from '../kube/rest.ts';
import { FIELD_MANAGER, LABEL_MANAGED_BY, OPERATOR_NAME } from '../policy/labels.ts';
import type { CachedAdmissionPolicy } from './caches.ts';

const BINDINGS = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings';
/**
 * The apiserver rebuilds its admission policies from their informers once a second (apiserver
 * policy_source.go, policyRefreshInterval): a stored binding gates pods only after that. Gated turns True
 * this long after the operator saw the binding stored, so the condition never claims a gate not yet in force.
 */
export const GATE_EFFECTIVE_AFTER_MS = 2_000;

/** What a tenant's status says of the gate. */
export interface GateFacts {
  /** The policy its namespaces are bound to (undefined: the tenant asks for no gate, having no default-deny). */
  policy: typeof POD_GATE | typeof AUDIT_NOTICE | undefined;
  installed: boolean;
  /** Every binding covering it is stored as wanted, long enough to be in force. */
  bound: boolean;
  /** When `bound` is false only because a binding is too recent: come back after this long. */
  retryAfterMs?: number;
}

/**
 * Whether the member-label guard (policy and binding) is installed: only then are the operator's namespace
 * labels its alone, so the pod gate (isolated) and label-selected peers (member-of) may rely on them.
 */
export function memberLabelGuarded(policies: Pick<ResilientInformer<CachedAdmissionPolicy>, 'get'>, bindings: Pick<ResilientInformer<AdmissionBinding, CachedBinding>, 'get'>): boolean {
  return policies.get(MEMBER_LABEL_GUARD) !== undefined && bindings.get(MEMBER_LABEL_GUARD) !== undefined;
}

export class GateBindings {
  private readonly rest: RestClient;
  private readonly bindings: ResilientInformer<AdmissionBinding, CachedBinding>;
  private readonly policies: ResilientInformer<CachedAdmissionPolicy>;
  private readonly tenants: () => TenantClaims[];
  private readonly reserved: readonly string[];
  /** Our writes the binding informer has not delivered yet (bindings are cluster-scoped: namespace ''). */
  private readonly written = new AssumedWrites<CachedBinding>();
  /** The digest each binding should have, as of the last sync. */
  private wanted = new Map<string, string>();
  /** When each tenant was first seen covered by each binding it needs ("tenant binding" -> time). */
  private readonly coveredSince = new Map<string, number>();

  constructor(rest: RestClient, bindings: ResilientInformer<AdmissionBinding, CachedBinding>, policies: ResilientInformer<CachedAdmissionPolicy>,
    tenants: () => TenantClaims[], reserved: readonly string[]) {
    this.rest = rest; this.bindings = bindings; this.policies = policies; this.tenants = tenants; this.reserved = reserved;
  }

  /** Writes what differs and deletes what no tenant needs; returns the names of the bindings that changed. */
  async sync(log: Logger): Promise<string[]> {
    const owners = new Map<string, string>();
    for (const p of [POD_GATE, AUDIT_NOTICE]) { const uid = this.policies.get(p)?.metadata.uid; if (uid) owners.set(p, uid); }
    const wanted = gateBindings(this.tenants(), this.reserved, owners);
    this.wanted = new Map(wanted.map((b) => [b.metadata.name, bindingDigest(b)]));
    const changed: string[] = [];
    // Bindings that gain namespaces first, those that lose some after: a tenant leaving a shared binding for
    // another is written into the new one before it is taken out of the old.
    const losing = (b: AdmissionBinding): boolean => narrows(this.bindings.get(b.metadata.name)?.selector, b);
    for (const b of [...wanted.filter((w) => !losing(w)), ...wanted.filter(losing)]) {
      const digest = this.wanted.get(b.metadata.name)!;
      // Stored as wanted, or written by us and not yet seen back.
      if (this.written.resolve('', b.metadata.name, this.bindings.get(b.metadata.name))?.digest === digest) continue;
      this.written.assume(compactBinding(await this.rest.apply<AdmissionBinding>(`${BINDINGS}/${b.metadata.name}`, b, FIELD_MANAGER, true)));
      changed.push(b.metadata.name);
      log.info({ binding: b.metadata.name }, 'wrote pod-gate binding');
    }
    for (const c of this.bindings.list()) {
      if (c.metadata.labels?.[LABEL_MANAGED_BY] !== OPERATOR_NAME || this.wanted.has(c.metadata.name)) continue;
      try {
        await this.rest.delete(`${BINDINGS}/${c.metadata.name}`);
        log.info({ binding: c.metadata.name }, 'removed pod-gate binding');
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.written.assumeDeleted('', c.metadata.name, c.metadata.resourceVersion);
      changed.push(c.metadata.name);
    }
    return changed;
  }

  /**
   * Whether the tenant's namespaces are gated: its policy installed, and every binding it needs stored
   * covering it for long enough. Coverage, not the whole binding: a shared binding rewritten for another
   * tenant still gates this one.
   */
  factsFor(t: TenantClaims): GateFacts {
    const policy = gatePolicyOf(t);
    if (!policy) return { policy, installed: true, bound: true };
    const now = Date.now();
    let covered = true;
    let youngest = 0;
    for (const name of bindingsCovering(t, this.reserved)) {
      const key = `${t.name} ${name}`;
      const b = this.bindings.get(name);
      if (!covers(name, b?.selector, t, this.reserved)) { covered = false; this.coveredSince.delete(key); continue; }
      // A binding covering the tenant has done so since its last write at the latest: one stored before
      // the operator started is in force already (a restart must not report the gate as just written).
      // managedFields times are whole seconds, hence the second added.
      const at = this.coveredSince.get(key) ?? Math.min(now, b?.writtenAt !== undefined ? b.writtenAt + 1000 : now);
      this.coveredSince.set(key, at);
      youngest = Math.max(youngest, at);
    }
    const wait = covered ? youngest + GATE_EFFECTIVE_AFTER_MS - now : 0;
    // The pod gate admits on the isolated label: it holds only while the member-label guard keeps that label the operator's.
    const installed = this.policies.get(policy) !== undefined && (policy !== POD_GATE || memberLabelGuarded(this.policies, this.bindings));
    return { policy, installed, bound: covered && wait <= 0, ...(covered && wait > 0 ? { retryAfterMs: wait } : {}) };
  }

  /** A binding informer event: once our write comes back (or anything newer, or a delete), the cache is the truth again. */
  observed(b: CachedBinding, deleted = false): void {
    this.written.observe('', b.metadata.name, b.metadata.resourceVersion, deleted);
  }

  /** The tenant is gone: forget when it was covered. */
  forget(tenant: string): void {
    for (const key of [...this.coveredSince.keys()]) if (key.startsWith(`${tenant} `)) this.coveredSince.delete(key);
  }
}
