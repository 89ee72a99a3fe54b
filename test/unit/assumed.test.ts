// The assume-cache: our own writes win over an older cache until the watch delivers them.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AssumedWrites, type Versioned } from '../../src/kube/assumed.ts';

const obj = (name: string, rv: string, ns = 'ns'): Versioned & { v: string } => ({ metadata: { name, namespace: ns, resourceVersion: rv }, v: `${name}@${rv}` });

beforeEach(() => { vi.useFakeTimers(); });
afterEach(() => { vi.useRealTimers(); });

describe('AssumedWrites', () => {
  it('without a write of ours, the cache is the truth', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    const cached = obj('p', '5');
    expect(a.resolve('ns', 'p', cached)).toBe(cached);
    expect(a.resolve('ns', 'p', undefined)).toBeUndefined();
  });

  it('our write wins while the cache is older, and is forgotten once the cache holds its version or a later one', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    const written = obj('p', '10');
    a.assume(written);
    expect(a.resolve('ns', 'p', obj('p', '9'))).toBe(written);
    expect(a.resolve('ns', 'p', undefined)).toBe(written); // created by us, not yet in the cache
    const caught = obj('p', '10');
    expect(a.resolve('ns', 'p', caught)).toBe(caught);
    expect(a.size).toBe(0);
    // forgotten: an older cache is believed again
    const older = obj('p', '9');
    expect(a.resolve('ns', 'p', older)).toBe(older);
  });

  it('compares resourceVersions as numbers, not strings ("9" < "10")', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    const written = obj('p', '10');
    a.assume(written);
    expect(a.resolve('ns', 'p', obj('p', '9'))).toBe(written);
    const later = obj('p', '11');
    expect(a.resolve('ns', 'p', later)).toBe(later);
  });

  it('keys by namespace and name', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    a.assume(obj('p', '10', 'a'));
    const other = obj('p', '3', 'b');
    expect(a.resolve('b', 'p', other)).toBe(other);
    expect(a.peek('a', 'p')?.metadata.resourceVersion).toBe('10');
    expect(a.peek('b', 'p')).toBeUndefined();
  });

  it('a delete of ours hides the cached version we deleted, until the cache drops it or holds a newer object', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    a.assumeDeleted('ns', 'p', '7');
    expect(a.resolve('ns', 'p', obj('p', '7'))).toBeUndefined();
    expect(a.size).toBe(1);
    const recreated = obj('p', '8');
    expect(a.resolve('ns', 'p', recreated)).toBe(recreated);
    expect(a.size).toBe(0);
    a.assumeDeleted('ns', 'q', '7');
    expect(a.resolve('ns', 'q', undefined)).toBeUndefined();
    expect(a.size).toBe(0); // the cache caught up: gone
  });

  it('an entry expires after its TTL, so a lost watch event cannot pin a stale write', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>(10_000);
    const written = obj('p', '10');
    a.assume(written);
    vi.advanceTimersByTime(10_000);
    expect(a.resolve('ns', 'p', obj('p', '9'))).toBe(written);
    vi.advanceTimersByTime(1);
    const stale = obj('p', '9');
    expect(a.resolve('ns', 'p', stale)).toBe(stale);
    expect(a.size).toBe(0);
  });

  it('tells the echo of our write (its very resourceVersion) from any other version or a deletion', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    expect(a.observe('ns', 'p', '10')).toBe(false);
    a.assume(obj('p', '10'));
    expect(a.observe('ns', 'p', '9')).toBe(false); // an older event still on its way: kept
    expect(a.observe('ns', 'p', undefined)).toBe(false);
    expect(a.observe('other', 'p', '10')).toBe(false);
    expect(a.size).toBe(1);
    expect(a.observe('ns', 'p', '10')).toBe(true);
    a.assume(obj('p', '12'));
    expect(a.observe('ns', 'p', '13')).toBe(false); // someone else's write after ours
    a.assumeDeleted('ns', 'p', '13');
    expect(a.observe('ns', 'p', '13')).toBe(false);
  });

  it('a deletion seen by a relist ends our write, though the cache never held it', () => {
    // Written at 100 while the cache held 90; deleted by someone in the watch's gap. The relist's delete
    // carries the object as the cache held it (90): the write must not still answer that it exists.
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    a.assume(obj('p', '100'));
    expect(a.observe('ns', 'p', '90', true)).toBe(false);
    expect(a.size).toBe(0);
    expect(a.resolve('ns', 'p', undefined)).toBeUndefined();
  });

  it('after a relist, forgets our writes the list should hold but does not, and says which', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    a.assume(obj('made-and-deleted', '100'));       // deleted in the gap: neither listed nor reported
    a.assume(obj('listed', '110'));
    a.assume(obj('after-the-list', '200'));          // written after the list was taken
    a.assumeDeleted('ns', 'our-delete', '90');
    const cached = new Set(['listed']);
    expect(a.goneAfterRelist('150', (_ns, name) => cached.has(name))).toEqual([['ns', 'made-and-deleted']]);
    expect(a.resolve('ns', 'made-and-deleted', undefined)).toBeUndefined();
    expect(a.resolve('ns', 'after-the-list', undefined)?.v).toBe('after-the-list@200');
    expect(a.size).toBe(3);
  });

  it('once the cache holds our write, a delete or edit by someone else reads as what it is', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>();
    const written = obj('p', '10');
    a.assume(written);
    expect(a.resolve('ns', 'p', undefined)).toBe(written); // created, not yet delivered: ours stands
    expect(a.observe('ns', 'p', '10')).toBe(true); // the echo
    expect(a.size).toBe(0);
    expect(a.resolve('ns', 'p', undefined)).toBeUndefined(); // deleted since: to be repaired
    // The echo delivered before the write's response: the late assume is overtaken by the deletion's event.
    a.assume(obj('p', '20'));
    expect(a.observe('ns', 'p', '21', true)).toBe(false);
    expect(a.resolve('ns', 'p', undefined)).toBeUndefined();
    // Our delete: the deletion's event, or the object made again, ends it.
    a.assumeDeleted('ns', 'p', '30');
    expect(a.resolve('ns', 'p', obj('p', '30'))).toBeUndefined();
    expect(a.observe('ns', 'p', '30', true)).toBe(false);
    expect(a.size).toBe(0);
    a.assumeDeleted('ns', 'p', '40');
    expect(a.observe('ns', 'p', '40')).toBe(false); // an old event of the version we deleted: kept
    expect(a.size).toBe(1);
    expect(a.observe('ns', 'p', '41')).toBe(false);
    expect(a.size).toBe(0);
  });

  it('expired entries nobody reads again are swept every 1000 writes', () => {
    const a = new AssumedWrites<ReturnType<typeof obj>>(1_000);
    for (let i = 0; i < 500; i++) a.assume(obj(`old-${i}`, '1'));
    vi.advanceTimersByTime(1_001);
    for (let i = 0; i < 499; i++) a.assume(obj(`new-${i}`, '1'));
    expect(a.size).toBe(999);
    a.assume(obj('new-499', '1')); // the 1000th write sweeps
    expect(a.size).toBe(500);
    expect(a.peek('ns', 'old-0')).toBeUndefined();
    expect(a.peek('ns', 'new-0')).toBeDefined();
  });
});
