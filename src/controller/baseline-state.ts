// The cluster baseline as the namespace reconciler sees it: the IsolationBaseline in the cache, parsed
// once per generation, and the policies it wants in a namespace (src/policy/baseline.ts), computed and
// hashed once per generation (they are the same in every namespace it covers).
import { parseBaseline, type IsolationBaselineObject, type ParsedBaseline } from '../api/baseline.ts';
import { BASELINE_KIND, BASELINE_NAME, type ValidTenant } from '../api/schema.ts';
import type { EventRecorder, EventTarget } from '../kube/events.ts';
import type { ResilientInformer } from '../kube/informer.ts';
import { strings } from '../kube/intern.ts';
import { baselineCovers, baselineTemplates, isBaselinePolicyName } from '../policy/baseline.ts';
import { inNamespace } from '../policy/desired.ts';
import { ownedDigest } from '../policy/diff.ts';
import type { NetworkPolicy } from '../policy/types.ts';

export interface BaselinePlan {
  /** The baseline's policies placed in the namespace. */
  policies: NetworkPolicy[];
  /** Policy name -> ownedDigest. */
  digests: ReadonlyMap<string, string>;
}

export class BaselineState {
  private readonly baselines: ResilientInformer<IsolationBaselineObject>;
  private readonly reserved: ReadonlySet<string>;
  private readonly events: EventRecorder | undefined;
  private parsedMemo: { key: string; value: ParsedBaseline } | undefined;
  private templatesMemo: { key: string; templates: NetworkPolicy[]; digests: Map<string, string> } | undefined;

  constructor(baselines: ResilientInformer<IsolationBaselineObject>, reserved: ReadonlySet<string>, events?: EventRecorder) {
    this.baselines = baselines; this.reserved = reserved; this.events = events;
  }

  /** The IsolationBaseline named cluster (being deleted counts as absent: its policies go with it). */
  object(): IsolationBaselineObject | undefined {
    const obj = this.baselines.get(BASELINE_NAME);
    return obj && !obj.metadata.deletionTimestamp ? obj : undefined;
  }

  parsed(): ParsedBaseline | undefined {
    const obj = this.object();
    if (!obj) return undefined;
    const key = `${obj.metadata.uid}/${obj.metadata.generation ?? 0}`;
    if (this.parsedMemo?.key !== key) this.parsedMemo = { key, value: parseBaseline(obj) };
    return this.parsedMemo.value;
  }

  /** Whether policies owned by this uid are the baseline's (its uid, whatever its spec says). */
  ownsUid(uid: string): boolean { return this.baselines.get(BASELINE_NAME)?.metadata.uid === uid; }

  /** What the baseline wants in the namespace: its policies when it enforces and covers it, else none. */
  plan(namespace: string, labels: Readonly<Record<string, string>>, claimants: readonly ValidTenant[]): BaselinePlan | undefined {
    const p = this.parsed();
    if (!p?.ok || p.baseline.spec.mode !== 'Enforce') return undefined;
    if (!baselineCovers(namespace, labels, claimants, p.baseline, this.reserved)) return undefined;
    const key = `${p.baseline.uid}/${p.baseline.generation}`;
    if (this.templatesMemo?.key !== key) {
      const templates = baselineTemplates(p.baseline);
      this.templatesMemo = { key, templates, digests: new Map(templates.map((t) => [t.metadata.name, strings.intern(ownedDigest(t))])) };
    }
    return { policies: this.templatesMemo.templates.map((t) => inNamespace(t, namespace)), digests: this.templatesMemo.digests };
  }

  /**
   * Whether a baseline policy no longer wanted must stay for now: a policy the namespace should hold instead
   * could not be written, or the baseline's spec is invalid (what it wrote stays as it is, failing closed)
   * and the namespace holds no default-deny of its own (`ownDeny`: a tenant isolates it now, and the
   * baseline's allows would only add paths the tenant does not declare).
   */
  keeps(name: string, clashed: boolean, ownDeny = false): boolean {
    if (!isBaselinePolicyName(name)) return false;
    return clashed || (this.invalid() && !ownDeny);
  }

  /** Whether there is a baseline whose spec is invalid: nobody can say which namespaces it covers. */
  invalid(): boolean {
    const p = this.parsed();
    return p !== undefined && !p.ok;
  }

  /** The IsolationBaseline as an Event's target, when this policy is one of its own (by owner uid). */
  eventTargetOf(policy: NetworkPolicy): EventTarget | undefined {
    const obj = this.object();
    const owner = policy.metadata.ownerReferences?.[0]?.uid;
    return obj && owner === obj.metadata.uid ? { name: obj.metadata.name, uid: obj.metadata.uid, kind: BASELINE_KIND } : undefined;
  }

  /** The baseline's policies were just written into a namespace that held none: one batched Event. */
  noteIsolated(namespace: string): void {
    const obj = this.object();
    if (!obj || !this.events) return;
    this.events.recordBatched({ name: obj.metadata.name, uid: obj.metadata.uid, kind: BASELINE_KIND }, 'Normal', 'NamespaceIsolated', namespace, (items) => (items.length === 1
      ? `Isolated namespace ${items[0]} (no tenant isolates it)`
      : `Isolated ${items.length} namespaces no tenant isolates: ${items.slice(0, 20).join(', ')}${items.length > 20 ? ', ...' : ''}`));
  }
}
