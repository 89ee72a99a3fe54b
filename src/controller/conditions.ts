// One helper sets conditions the Kubernetes way: lastTransitionTime moves only when status changes.
import type { Condition } from '../api/schema.ts';

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

export function setCondition(existing: readonly Condition[], next: ConditionUpdate, now: Date): Condition[] {
  return setConditions(existing, [next], now);
}

/**
 * Every update at once, in one new array: a condition that does not change keeps its object. (A status is
 * computed on every tenant event, and rebuilding the list per condition was most of what that allocated.)
 */
export function setConditions(existing: readonly Condition[], updates: readonly ConditionUpdate[], now: Date): Condition[] {
  const byType = new Map(existing.map((c) => [c.type, c]));
  let stamp: string | undefined;
  for (const u of updates) {
    const prev = byType.get(u.type);
    if (prev && sameCondition(prev, u)) continue;
    const lastTransitionTime = prev && prev.status === u.status ? prev.lastTransitionTime : (stamp ??= now.toISOString());
    byType.set(u.type, { ...u, lastTransitionTime });
  }
  return [...byType.values()].sort((a, b) => order(a.type) - order(b.type));
}

const ORDER = ['Ready', 'Isolated', 'Gated', 'Reconciling', 'Stalled'];
const order = (t: string): number => { const i = ORDER.indexOf(t); return i < 0 ? ORDER.length : i; };

const sameCondition = (c: ConditionUpdate, d: ConditionUpdate): boolean =>
  c.type === d.type && c.status === d.status && c.reason === d.reason && c.message === d.message && c.observedGeneration === d.observedGeneration;

/** Equal ignoring lastTransitionTime, so an unchanged status costs no write. */
export function sameConditions(a: readonly Condition[] = [], b: readonly Condition[] = []): boolean {
  return a.length === b.length && a.every((c, i) => sameCondition(c, b[i]!));
}
