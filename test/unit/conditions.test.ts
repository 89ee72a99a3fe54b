import { describe, expect, it } from 'vitest';
import type { Condition } from '../../src/api/schema.ts';
import { sameConditions, setCondition, setConditions } from '../../src/controller/conditions.ts';

const t0 = new Date('2025-01-01T00:00:00.000Z');
const t1 = new Date('2025-01-01T01:00:00.000Z');

const ready = (status: Condition['status'], reason = 'Isolated', message = 'ok', observedGeneration = 1) =>
  ({ type: 'Ready', status, reason, message, observedGeneration });

describe('setCondition', () => {
  it('adds a missing condition stamped with now', () => {
    expect(setCondition([], ready('True'), t0)).toEqual([{ ...ready('True'), lastTransitionTime: t0.toISOString() }]);
  });

  it('keeps lastTransitionTime when the status is unchanged, while reason, message and generation update', () => {
    const before = setCondition([], ready('True'), t0);
    const after = setCondition(before, ready('True', 'StillIsolated', 'still ok', 2), t1);
    expect(after).toEqual([{ ...ready('True', 'StillIsolated', 'still ok', 2), lastTransitionTime: t0.toISOString() }]);
  });

  it('moves lastTransitionTime when the status changes', () => {
    const before = setCondition([], ready('True'), t0);
    const after = setCondition(before, ready('False', 'Conflict'), t1);
    expect(after).toHaveLength(1);
    expect(after[0]!.status).toBe('False');
    expect(after[0]!.lastTransitionTime).toBe(t1.toISOString());
  });

  it('replaces only the condition of the same type and keeps Ready, Reconciling, Stalled in that order', () => {
    let cs = setCondition([], { type: 'Stalled', status: 'False', reason: 'R', message: '' }, t0);
    cs = setCondition(cs, { type: 'Reconciling', status: 'True', reason: 'R', message: '' }, t0);
    cs = setCondition(cs, ready('True'), t0);
    cs = setCondition(cs, { type: 'Reconciling', status: 'False', reason: 'Done', message: '' }, t1);
    expect(cs.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled']);
    expect(cs.find((c) => c.type === 'Reconciling')).toMatchObject({ status: 'False', lastTransitionTime: t1.toISOString() });
    expect(cs.find((c) => c.type === 'Stalled')!.lastTransitionTime).toBe(t0.toISOString());
  });

  it('does not modify the list it was given', () => {
    const before = setCondition([], ready('True'), t0);
    const snapshot = structuredClone(before);
    setCondition(before, ready('False'), t1);
    expect(before).toEqual(snapshot);
  });
});

describe('setConditions', () => {
  it('applies every update as setCondition one after another would, in one new list', () => {
    const before = setCondition(setCondition([], ready('True'), t0), { type: 'Stalled', status: 'False', reason: 'R', message: '' }, t0);
    const updates = [ready('False', 'Pending', 'waiting'), { type: 'Stalled', status: 'False' as const, reason: 'R2', message: 'x' }, { type: 'Reconciling', status: 'True' as const, reason: 'P', message: '' }];
    const oneByOne = updates.reduce((cs, u) => setCondition(cs, u, t1), before);
    const batched = setConditions(before, updates, t1);
    expect(batched).toEqual(oneByOne);
    expect(batched.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled']);
    expect(batched[0]!.lastTransitionTime).toBe(t1.toISOString());
    expect(batched[2]!.lastTransitionTime).toBe(t0.toISOString());
  });

  it('keeps the very object of a condition that does not change', () => {
    const before = setCondition([], ready('True'), t0);
    const after = setConditions(before, [ready('True')], t1);
    expect(after).not.toBe(before);
    expect(after[0]).toBe(before[0]);
  });
});

describe('sameConditions', () => {
  it('treats lists that differ only in lastTransitionTime as the same', () => {
    const a = setCondition([], ready('True'), t0);
    const b = setCondition([], ready('True'), t1);
    expect(sameConditions(a, b)).toBe(true);
    expect(sameConditions(undefined, [])).toBe(true);
  });

  it('sees a change of status, reason, message, observedGeneration or count', () => {
    const a = setCondition([], ready('True'), t0);
    expect(sameConditions(a, setCondition([], ready('False'), t0))).toBe(false);
    expect(sameConditions(a, setCondition([], ready('True', 'Other'), t0))).toBe(false);
    expect(sameConditions(a, setCondition([], ready('True', 'Isolated', 'other'), t0))).toBe(false);
    expect(sameConditions(a, setCondition([], ready('True', 'Isolated', 'ok', 2), t0))).toBe(false);
    expect(sameConditions(a, [])).toBe(false);
    expect(sameConditions(a, setCondition(a, { type: 'Stalled', status: 'False', reason: 'R', message: '' }, t0))).toBe(false);
  });
});
