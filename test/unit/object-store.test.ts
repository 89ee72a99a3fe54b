// The informer's store: arrays for small namespaces, a Map past SMALL_BUCKET, the same answers either way.
import { describe, expect, it } from 'vitest';
import { ObjectStore } from '../../src/kube/store.ts';

const obj = (name: string, v = 0) => ({ metadata: { name }, v });

describe('ObjectStore', () => {
  it('stores, replaces, finds and deletes by namespace and name, across the array/Map switch and back', () => {
    const s = new ObjectStore<ReturnType<typeof obj>>();
    const n = ObjectStore.SMALL_BUCKET * 2;
    for (let i = 0; i < n; i++) expect(s.set('a', obj(`o${i}`))).toBeUndefined();
    s.set('b', obj('o0', 7));
    expect(s.size).toBe(n + 1);
    // Replacing returns the old object and keeps the count.
    expect(s.set('a', obj('o3', 1))?.v).toBe(0);
    expect(s.get('a', 'o3')?.v).toBe(1);
    expect(s.get('b', 'o0')?.v).toBe(7);
    expect(s.get('a', 'missing')).toBeUndefined();
    expect(s.get('c', 'o0')).toBeUndefined();
    expect(s.size).toBe(n + 1);
    expect(s.inNamespace('a').map((o) => o.metadata.name).sort()).toEqual(Array.from({ length: n }, (_, i) => `o${i}`).sort());
    // Deleting down through the switch back to an array keeps every other object findable.
    for (let i = 0; i < n - 1; i++) {
      expect(s.delete('a', `o${i}`)?.metadata.name).toBe(`o${i}`);
      expect(s.get('a', `o${n - 1}`)).toBeDefined();
      expect(s.get('a', `o${i}`)).toBeUndefined();
    }
    expect(s.delete('a', 'o0')).toBeUndefined();
    expect(s.size).toBe(2);
    expect([...s.entries()].map(([ns, o]) => `${ns}/${o.metadata.name}`).sort()).toEqual([`a/o${n - 1}`, 'b/o0']);
    expect(s.delete('a', `o${n - 1}`)).toBeDefined();
    expect(s.inNamespace('a')).toEqual([]);
    expect([...s.values()].map((o) => o.metadata.name)).toEqual(['o0']);
    expect(s.size).toBe(1);
  });
});
