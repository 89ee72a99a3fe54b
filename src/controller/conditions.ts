// One helper sets conditions the Kubernetes way: lastTransitionTime moves only when status changes.
import type { Condition } from '../api/schema.ts';

export function setCondition(existing: readonly Condition[], next: Omit<Condition, 'lastTransitionTime'>, now: Date): Condition[] {
  const prev = existing.find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status ? prev.lastTransitionTime : now.toISOString();
  const merged: Condition = { ...next, lastTransitionTime };
  return [...existing.filter((c) => c.type !== next.type), merged].sort((a, b) => order(a.type) - order(b.type));
}

const ORDER = ['Ready', 'Isolated', 'Gated', 'Reconciling', 'Stalled'];
const order = (t: string): number => { const i = ORDER.indexOf(t); return i < 0 ? ORDER.length : i; };

/** Equal ignoring lastTransitionTime, so an unchanged status costs no write. */
export function sameConditions(a: readonly Condition[] = [], b: readonly Condition[] = []): boolean {
  if (a.length !== b.length) return false;
  return a.every((c, i) => {
    const d = b[i]!;
    return c.type === d.type && c.status === d.status && c.reason === d.reason && c.message === d.message && c.observedGeneration === d.observedGeneration;
  });
}
