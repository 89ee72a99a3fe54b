import { describe, expect, it } from 'vitest';
import { StringInterner, ValueInterner, internStrings } from '../../src/kube/intern.ts';

describe('StringInterner', () => {
  it('returns one copy of equal strings', () => {
    const t = new StringInterner();
    const a = t.intern(['ten', 'ant'].join(''));
    expect(t.intern(`${'te'}nant`)).toBe(a);
  });

  it('stays bounded under churn: values nobody asks for again are forgotten, values in use are kept', () => {
    const t = new StringInterner(1000);
    const live = Array.from({ length: 500 }, (_, i) => `live-${i}`);
    for (let round = 0; round < 400; round++) {
      for (const s of live) t.intern(s);
      for (let i = 0; i < 1000; i++) t.intern(`gone-${round}-${i}`); // e.g. names of deleted namespaces
    }
    // 400 000 distinct strings went through; the table holds at most two generations of about twice the live set.
    expect(t.size).toBeLessThan(5000);
    const kept = t.intern('live-7');
    expect(t.intern(['live', '7'].join('-'))).toBe(kept);
  });
});

describe('ValueInterner', () => {
  it('gives the same frozen object for equal values and a different one for different values', () => {
    const v = new ValueInterner<{ a: number[] }>();
    const x = v.intern({ a: [1, 2] });
    expect(v.intern({ a: [1, 2] })).toBe(x);
    expect(v.intern({ a: [2, 1] })).not.toBe(x);
    expect(Object.isFrozen(x) && Object.isFrozen(x.a)).toBe(true);
    expect(() => { x.a.push(3); }).toThrow();
  });
});

describe('internStrings', () => {
  it('keeps parsed JSON as it was (strings at every depth, numbers, booleans, null) and returns the same object', () => {
    const text = '{"a":"x","b":[1,"y",{"c":null,"d":true,"e":["z"]}],"f":{"g":"h"}}';
    const parsed = JSON.parse(text) as unknown;
    expect(internStrings(parsed)).toBe(parsed);
    expect(JSON.stringify(parsed)).toBe(text);
  });
});
