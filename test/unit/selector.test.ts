import { describe, expect, it } from 'vitest';
import { matchesSelector } from '../../src/policy/selector.ts';

const labels = { team: 'a', env: 'prod', empty: '' };

describe('matchesSelector', () => {
  it('an empty selector matches every label set, even no labels at all', () => {
    expect(matchesSelector(labels, {})).toBe(true);
    expect(matchesSelector({}, {})).toBe(true);
    expect(matchesSelector(undefined, { matchLabels: {}, matchExpressions: [] })).toBe(true);
  });

  it('matchLabels requires every listed key with exactly that value', () => {
    expect(matchesSelector(labels, { matchLabels: { team: 'a' } })).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { team: 'a', env: 'prod' } })).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { team: 'b' } })).toBe(false);
    expect(matchesSelector(labels, { matchLabels: { team: 'a', env: 'dev' } })).toBe(false);
    expect(matchesSelector(labels, { matchLabels: { owner: 'a' } })).toBe(false);
  });

  it('a matchLabels entry with an empty value needs the key present with an empty value', () => {
    expect(matchesSelector(labels, { matchLabels: { empty: '' } })).toBe(true);
    expect(matchesSelector(labels, { matchLabels: { missing: '' } })).toBe(false);
  });

  it('does not mistake inherited object properties for labels', () => {
    expect(matchesSelector({}, { matchExpressions: [{ key: 'constructor', operator: 'Exists' }] })).toBe(false);
    expect(matchesSelector({}, { matchExpressions: [{ key: 'toString', operator: 'DoesNotExist' }] })).toBe(true);
  });

  it('In matches a present key whose value is listed, never a missing key', () => {
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] })).toBe(false);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'In', values: ['web'] }] })).toBe(false);
  });

  it('NotIn matches a missing key and a present key whose value is not listed', () => {
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev', 'prod'] }] })).toBe(false);
  });

  it('Exists matches a present key whatever its value, even empty; DoesNotExist only a missing key', () => {
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'empty', operator: 'Exists' }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'Exists' }] })).toBe(false);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })).toBe(true);
    expect(matchesSelector(labels, { matchExpressions: [{ key: 'empty', operator: 'DoesNotExist' }] })).toBe(false);
  });

  it('ANDs matchLabels with every expression: one failing term fails the selector', () => {
    const sel = {
      matchLabels: { team: 'a' },
      matchExpressions: [
        { key: 'env', operator: 'In' as const, values: ['prod'] },
        { key: 'tier', operator: 'DoesNotExist' as const },
      ],
    };
    expect(matchesSelector(labels, sel)).toBe(true);
    expect(matchesSelector({ ...labels, tier: 'web' }, sel)).toBe(false);
    expect(matchesSelector({ ...labels, env: 'dev' }, sel)).toBe(false);
    expect(matchesSelector({ ...labels, team: 'b' }, sel)).toBe(false);
  });
});
