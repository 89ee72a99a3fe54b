// A chaos record (bench/chaos/history.ts) written by hand, event by event, for the checkers' unit tests.
import { NAMESPACE_CACHE_LAG_MS, type PodAttempt } from '../../bench/chaos/admission.ts';
import { TENANT_LABEL } from '../../bench/chaos/churn.ts';
import { Timeline, type Gap, type HistoryView, type Obj } from '../../bench/chaos/history.ts';

export const DENY = 'tenant-isolation-default-deny';
export const DNS = 'tenant-isolation-allow-dns';
export const ISOLATED = 'isolation.tenancy.dev/isolated';

/** A history written event by event: each write takes the next revision, seen 10 ms after the last. */
export class Recorder implements HistoryView {
  readonly tenants = new Timeline();
  readonly namespaces = new Timeline();
  readonly policies = new Timeline();
  readonly pods = new Timeline();
  readonly gaps: Gap[] = [];
  rv = 100n;
  now = 0;
  put(t: Timeline, key: string, obj: Obj | undefined): bigint {
    this.rv++; this.now += 10;
    t.add(key, { rv: this.rv, seenAt: this.now, obj });
    return this.rv;
  }
  tenant(name: string, o: { mode?: string; gated?: boolean; names?: string[]; generation?: number } = {}): bigint {
    const generation = o.generation ?? 1;
    return this.put(this.tenants, name, {
      metadata: { name, uid: `uid-${name}`, generation },
      spec: { namespaceSelector: { matchLabels: { [TENANT_LABEL]: name } }, mode: o.mode ?? 'Enforce', ...(o.names ? { namespaces: o.names } : {}) },
      status: { observedGeneration: generation, conditions: o.gated === false ? [] : [{ type: 'Gated', status: 'True', reason: o.mode === 'Audit' ? 'AuditNotice' : 'PodsWaitForIsolation' }] },
    });
  }
  namespace(name: string, labels: Record<string, string>): bigint { return this.put(this.namespaces, name, { metadata: { name, labels } }); }
  policy(ns: string, name: string, tenant: string | undefined, o: { open?: boolean; deleted?: boolean } = {}): bigint {
    if (o.deleted) return this.put(this.policies, `${ns}/${name}`, undefined);
    const spec = name === DENY ? { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ...(o.open ? { ingress: [{}] } : {}) } : { podSelector: {}, policyTypes: ['Egress'], egress: [{}] };
    return this.put(this.policies, `${ns}/${name}`, {
      metadata: { name, namespace: ns, labels: { 'app.kubernetes.io/managed-by': 'tenant-isolation-operator', ...(tenant ? { 'isolation.tenancy.dev/tenant': tenant } : {}) }, ownerReferences: tenant ? [{ uid: `uid-${tenant}`, kind: 'TenantIsolation', name: tenant }] : [] },
      spec,
    });
  }
  /** What the operator does for a member of `tenant`: its policies, then the label. */
  isolate(ns: string, tenant: string, labels: Record<string, string>): void {
    this.policy(ns, DENY, tenant); this.policy(ns, DNS, tenant);
    this.namespace(ns, { ...labels, [ISOLATED]: 'true' });
  }
  /** A pod admitted now (sent 5 ms before it was stored). */
  pod(ns: string, moment: PodAttempt['moment'] = 'random'): PodAttempt {
    this.rv++; this.now += 10;
    return { namespace: ns, name: `p${this.rv}`, sentAt: this.now - 5, moment, outcome: 'admitted', rv: this.rv };
  }
  /** Time passes with no write (longer than the apiserver's informer may trail). */
  wait(ms = NAMESPACE_CACHE_LAG_MS + 1): void { this.now += ms; }
}

