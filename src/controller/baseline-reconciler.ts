// Reconciles the IsolationBaseline's status (fleet-status.ts, pure): which namespaces it isolates, or
// would in Audit mode, which are pending, and which pods there no NetworkPolicy selects. The policies
// themselves are the namespace controller's work (BaselineState). One pass reads every namespace, so it
// runs at most once per window, however many events queue it.
import type { Logger } from 'pino';
import { API_VERSION, BASELINE_KIND, BASELINE_NAME, BASELINE_PLURAL, type ValidTenant } from '../api/schema.ts';
import type { EventRecorder } from '../kube/events.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { isNotFound, type RestClient } from '../kube/rest.ts';
import { baselineExemption } from '../policy/baseline.ts';
import { FIELD_MANAGER } from '../policy/labels.ts';
import type { MembershipIndex } from '../policy/membership.ts';
import type { NamespaceObject } from '../policy/types.ts';
import type { ReconcileResult } from '../queue/workqueue.ts';
import type { BaselineState } from './baseline-state.ts';
import type { ManagedPolicies } from './caches.ts';
import { baselineStatus, fleetStatusDiffers, statusPatch } from './fleet-status.ts';
import type { IsolationProof } from './isolation-proof.ts';
import { isTerminating } from './namespace-reconciler.ts';

export interface BaselineReconcilerDeps {
  rest: RestClient;
  events: EventRecorder;
  state: BaselineState;
  namespaces: ResilientInformer<NamespaceObject>;
  membership: MembershipIndex;
  managed: ManagedPolicies;
  proof: IsolationProof | undefined;
}

export class BaselineReconciler {
  static readonly WINDOW_MS = 1_000;
  private lastPass = 0;
  private readonly d: BaselineReconcilerDeps;

  constructor(deps: BaselineReconcilerDeps) { this.d = deps; }

  async reconcile(key: string, log: Logger): Promise<ReconcileResult> {
    const d = this.d;
    const obj = d.state.object();
    if (key !== BASELINE_NAME || !obj) return;
    const since = Date.now() - this.lastPass;
    if (since < BaselineReconciler.WINDOW_MS) return { requeueAfterMs: BaselineReconciler.WINDOW_MS - since };
    this.lastPass = Date.now();
    const parsed = d.state.parsed()!;
    const covered: string[] = [];
    const pending: string[] = [];
    let exempt = 0;
    if (parsed.ok && parsed.baseline.spec.mode !== 'Off') {
      for (const ns of d.namespaces.list()) {
        const name = ns.metadata.name;
        if (isTerminating(ns)) continue;
        const labels = ns.metadata.labels ?? {};
        if (baselineExemption(name, labels, parsed.baseline, d.membership.reserved) !== undefined) { exempt++; continue; }
        const claimants = d.membership.claimantsOf(name).map((t) => d.membership.tenant(t)).filter((t): t is ValidTenant => t !== undefined);
        // The namespace reconciler's rule (baselineCovers): Audit claimants, failing-closed ones last in Audit included.
        if (!claimants.every((t) => t.spec.mode === 'Audit')) continue;
        covered.push(name);
        const plan = d.state.plan(name, labels, claimants);
        if (plan && plan.policies.some((p) => d.managed.get(name, p.metadata.name)?.ownedDigest !== plan.digests.get(p.metadata.name))) pending.push(name);
      }
      covered.sort(); pending.sort();
    }
    const inCovered = new Set(covered);
    const unselected = parsed.ok && parsed.baseline.spec.mode !== 'Off' && d.proof
      ? d.proof.podsSelectedByNoPolicy().filter((p) => inCovered.has(p.slice(0, p.indexOf('/'))))
      : undefined;
    const result = baselineStatus({ object: obj, parsed, covered, pending, exempt, unselectedPods: unselected, now: new Date() });
    if (!fleetStatusDiffers(obj.status, result.status)) return;
    try {
      await d.rest.mergePatch(`/apis/${API_VERSION}/${BASELINE_PLURAL}/${BASELINE_NAME}/status`, { status: statusPatch(obj.status, result.status) }, FIELD_MANAGER);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const e of result.events) {
      if (e.type === 'Warning') log.warn({ baseline: BASELINE_NAME, message: e.message }, 'invalid IsolationBaseline; its policies are left as they are');
      d.events.record({ name: BASELINE_NAME, uid: obj.metadata.uid, kind: BASELINE_KIND }, e.type, e.reason, e.message);
    }
    return undefined;
  }
}
