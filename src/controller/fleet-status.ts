// The status of an IsolationProfile and of the IsolationBaseline, as pure functions of what the caches
// show (like tenant-status.ts for tenants), with the Events their transitions call for: the reconcilers
// record those only after the status write succeeds.
import { BASELINE_STATUS_LIST_MAX, type IsolationBaselineObject, type IsolationBaselineStatus, type ParsedBaseline } from '../api/baseline.ts';
import { PROFILE_STATUS_TENANTS_MAX, parseProfile, type IsolationProfileObject, type IsolationProfileStatus } from '../api/profile.ts';
import type { Condition } from '../api/schema.ts';
import { canonicalJson } from '../policy/diff.ts';
import { sameConditions, setCondition } from './conditions.ts';
import type { StatusEvent } from './tenant-status.ts';

export interface FleetStatusResult<S> { status: S; events: StatusEvent[] }

const list = (names: readonly string[], max = 5): string => `${names.slice(0, max).join(', ')}${names.length > max ? `, ... (${names.length} in all)` : ''}`;

/** A profile's status: whether it is valid, and which tenants inherit from it. */
export function profileStatus(object: IsolationProfileObject, tenants: readonly string[], now: Date): FleetStatusResult<IsolationProfileStatus> {
  const gen = object.metadata.generation ?? 0;
  const prev = object.status;
  const parsed = parseProfile(object);
  const n = tenants.length;
  let conditions: Condition[] = prev?.conditions ?? [];
  const events: StatusEvent[] = [];
  if ('error' in parsed) {
    const message = `${parsed.error}; its ${n} tenant(s) fail closed (their namespaces keep their policies as they are) until it is fixed`;
    conditions = setCondition(conditions, { type: 'Ready', status: 'False', reason: 'InvalidSpec', message, observedGeneration: gen }, now);
    const reported = prev?.observedGeneration === gen && prev.conditions?.some((c) => c.type === 'Ready' && c.reason === 'InvalidSpec');
    if (!reported) events.push({ type: 'Warning', reason: 'InvalidSpec', message: parsed.error });
  } else {
    conditions = setCondition(conditions, { type: 'Ready', status: 'True', reason: 'Valid', message: `inherited by ${n} tenant(s)`, observedGeneration: gen }, now);
  }
  return { status: { observedGeneration: gen, conditions, tenantCount: n, tenants: tenants.slice(0, PROFILE_STATUS_TENANTS_MAX) }, events };
}

export interface BaselineFacts {
  object: IsolationBaselineObject;
  parsed: ParsedBaseline;
  /** Namespaces the baseline covers (isolates, or would in Audit), sorted. */
  covered: readonly string[];
  /** Of those, the ones not holding its policies yet (Enforce). */
  pending: readonly string[];
  /** Namespaces it leaves alone (reserved, kube-*, exempt). */
  exempt: number;
  /** Pods no NetworkPolicy selects in the covered namespaces ("ns/name", sorted); undefined without the isolation proof. */
  unselectedPods: readonly string[] | undefined;
  now: Date;
}

/** The baseline's status: what it isolates (or would, in Audit), what is pending, and the unselected pods. */
export function baselineStatus(f: BaselineFacts): FleetStatusResult<IsolationBaselineStatus> {
  const gen = f.object.metadata.generation ?? 0;
  const prev = f.object.status;
  let conditions: Condition[] = prev?.conditions ?? [];
  const set = (status: Condition['status'], reason: string, message: string): void => {
    conditions = setCondition(conditions, { type: 'Ready', status, reason, message, observedGeneration: gen }, f.now);
  };
  const events: StatusEvent[] = [];
  if (!f.parsed.ok) {
    set('False', 'InvalidSpec', `${f.parsed.error}. The policies it wrote stay as they are until the spec is fixed.`);
    const reported = prev?.observedGeneration === gen && prev.conditions?.some((c) => c.type === 'Ready' && c.reason === 'InvalidSpec');
    if (!reported) events.push({ type: 'Warning', reason: 'InvalidSpec', message: f.parsed.error });
    return { status: { observedGeneration: gen, conditions, summary: 'invalid spec' }, events };
  }
  const mode = f.parsed.baseline.spec.mode;
  if (mode === 'Off') {
    set('True', 'Off', 'the baseline is off: it isolates no namespace');
    return { status: { observedGeneration: gen, conditions, summary: 'off', namespaceCount: 0 }, events };
  }
  const n = f.covered.length;
  const pods = f.unselectedPods;
  const podNote = pods === undefined ? '' : `; ${pods.length} pod(s) there are selected by no NetworkPolicy today`;
  let summary: string;
  if (mode === 'Audit') {
    set('True', 'AuditMode', `Audit mode: Enforce would isolate ${n} namespace(s)${podNote}; nothing is written`);
    summary = `${n} would isolate (Audit)`;
    // New since the last status: past BASELINE_STATUS_LIST_MAX the stored list is cut, so only names that
    // sort within it can be told new (the rest would be 'new' on every write).
    const before = new Set(prev?.namespaces ?? []);
    const listed = prev?.namespaces ?? [];
    const lastListed = (prev?.namespaceCount ?? 0) > listed.length ? listed.at(-1) : undefined;
    const fresh = f.covered.filter((ns) => !before.has(ns) && (lastListed === undefined || ns < lastListed));
    if (fresh.length > 0) events.push({ type: 'Normal', reason: 'WouldIsolate', message: `Audit mode: Enforce would isolate namespace(s) ${list(fresh, 20)}` });
  } else if (f.pending.length > 0) {
    set('False', 'Pending', `${f.pending.length} of ${n} namespace(s) not yet isolated: ${list(f.pending)}`);
    summary = `${n - f.pending.length}/${n} isolated, ${f.pending.length} pending, ${f.exempt} exempt`;
  } else {
    set('True', 'Isolated', `${n} namespace(s) that no tenant isolates are isolated`);
    summary = `${n} isolated, ${f.exempt} exempt`;
  }
  const status: IsolationBaselineStatus = {
    observedGeneration: gen, conditions, summary, namespaceCount: n, namespaces: f.covered.slice(0, BASELINE_STATUS_LIST_MAX),
    ...(pods !== undefined ? { unselectedPodCount: pods.length, unselectedPods: pods.slice(0, BASELINE_STATUS_LIST_MAX) } : {}),
  };
  return { status, events };
}

/** Equal statuses (ignoring lastTransitionTime) cost no write. */
export function fleetStatusDiffers<S extends { conditions?: Condition[] }>(cur: S | undefined, next: S): boolean {
  const { conditions: a, ...restA } = cur ?? ({} as S);
  const { conditions: b, ...restB } = next;
  return !sameConditions(a, b) || canonicalJson(restA) !== canonicalJson(restB);
}

/** The merge patch that makes `prev` into `next`: fields `next` no longer has are removed (null). */
export function statusPatch<S extends object>(prev: S | undefined, next: S): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(next as Record<string, unknown>) };
  for (const k of Object.keys(prev ?? {})) if (!(k in out)) out[k] = null;
  return out;
}
