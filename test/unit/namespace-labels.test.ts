import { describe, expect, it } from 'vitest';
import { NamespaceLabelIndex } from '../../src/policy/namespace-labels.ts';

function index(entries: Record<string, Record<string, string>>): NamespaceLabelIndex {
  const i = new NamespaceLabelIndex();
  for (const [n, l] of Object.entries(entries)) i.set(n, l);
  return i;
}

describe('NamespaceLabelIndex.select', () => {
  const i = index({ a: { team: 'x', env: 'prod' }, b: { team: 'x', env: 'dev' }, c: { team: 'y' }, d: {} });
  const sorted = (names: string[]): string[] => [...names].sort();

  it('matches every term of a selector, whatever the index narrows by', () => {
    expect(sorted(i.select({ matchLabels: { team: 'x' } }))).toEqual(['a', 'b']);
    expect(sorted(i.select({ matchLabels: { team: 'x', env: 'prod' } }))).toEqual(['a']);
    expect(sorted(i.select({ matchExpressions: [{ key: 'team', operator: 'In', values: ['x', 'y'] }, { key: 'env', operator: 'NotIn', values: ['dev'] }] }))).toEqual(['a', 'c']);
    expect(sorted(i.select({ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' }] }))).toEqual(['c', 'd']);
    expect(sorted(i.select({}))).toEqual(['a', 'b', 'c', 'd']);
    expect(i.select({ matchLabels: { team: 'z' } })).toEqual([]);
  });

  it('lists each namespace once even when an In requirement names two of its values', () => {
    expect(i.select({ matchExpressions: [{ key: 'team', operator: 'In', values: ['x', 'x'] }] }).sort()).toEqual(['a', 'b']);
  });

  it('selects by the name label without indexing it, and still by a name label that is not the name', () => {
    const n = 'kubernetes.io/metadata.name';
    const j = index({ a: { [n]: 'a', team: 'x' }, b: { [n]: 'b' }, c: { [n]: 'a' }, d: { team: 'x' } });
    expect(j.select({ matchLabels: { [n]: 'a' } }).sort()).toEqual(['a', 'c']);
    expect(j.select({ matchLabels: { [n]: 'd' } })).toEqual([]); // d has no such label
    expect(j.select({ matchExpressions: [{ key: n, operator: 'In', values: ['a', 'b', 'zz'] }] }).sort()).toEqual(['a', 'b', 'c']);
    expect(j.select({ matchLabels: { [n]: 'b', team: 'x' } })).toEqual([]);
    j.set('c', { [n]: 'c' });
    expect(j.select({ matchLabels: { [n]: 'a' } })).toEqual(['a']);
    j.delete('a');
    expect(j.select({ matchLabels: { [n]: 'a' } })).toEqual([]);
    expect(j.select({ matchLabels: { [n]: 'c' } })).toEqual(['c']);
  });

  it('follows relabelling and deletion: old labels stop matching', () => {
    const j = index({ a: { team: 'x' } });
    j.set('a', { team: 'y' });
    expect(j.select({ matchLabels: { team: 'x' } })).toEqual([]);
    expect(j.select({ matchLabels: { team: 'y' } })).toEqual(['a']);
    j.delete('a');
    expect(j.select({ matchLabels: { team: 'y' } })).toEqual([]);
    expect(j.has('a')).toBe(false);
    expect(j.size).toBe(0);
  });
});
