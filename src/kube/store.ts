// An informer's cache: objects by namespace ('' for cluster-scoped) and name. Most namespaces hold a handful
// of objects of a kind (three managed policies, a few pods), and a Map for each costs a few hundred bytes
// before it holds anything: at 10 000 namespaces, megabytes. So a namespace's objects sit in an array
// until it holds more than SMALL_BUCKET, then in a Map (a cluster-scoped kind is one big Map).

interface Named { metadata?: { name?: string } }

type Bucket<T> = T[] | Map<string, T>;

const nameOf = (o: Named): string => o.metadata?.name ?? '';

export class ObjectStore<T extends Named> {
  /** Up to this many objects a namespace keeps them in an array (found by a linear scan). */
  static readonly SMALL_BUCKET = 8;
  private readonly buckets = new Map<string, Bucket<T>>();
  private count = 0;

  get size(): number { return this.count; }

  get(ns: string, name: string): T | undefined {
    const b = this.buckets.get(ns);
    if (b === undefined) return undefined;
    if (b instanceof Map) return b.get(name);
    for (const o of b) if (nameOf(o) === name) return o;
    return undefined;
  }

  has(ns: string, name: string): boolean { return this.get(ns, name) !== undefined; }

  /**
   * Stores `o` under `ns`/its name; returns what it replaced. `ns` should be the object's own string (an
   * interned one) so the store holds no other copy.
   */
  set(ns: string, o: T): T | undefined {
    const name = nameOf(o);
    const b = this.buckets.get(ns);
    if (b === undefined) { this.buckets.set(ns, [o]); this.count++; return undefined; }
    if (b instanceof Map) {
      const old = b.get(name);
      b.set(name, o);
      if (old === undefined) this.count++;
      return old;
    }
    const i = b.findIndex((x) => nameOf(x) === name);
    if (i >= 0) { const old = b[i]; b[i] = o; return old; }
    this.count++;
    if (b.length < ObjectStore.SMALL_BUCKET) b.push(o);
    else this.buckets.set(ns, new Map([...b, o].map((x) => [nameOf(x), x])));
    return undefined;
  }

  /** Removes and returns the object, if stored. */
  delete(ns: string, name: string): T | undefined {
    const b = this.buckets.get(ns);
    if (b === undefined) return undefined;
    let old: T | undefined;
    if (b instanceof Map) {
      old = b.get(name);
      if (old === undefined) return undefined;
      b.delete(name);
      if (b.size === 0) this.buckets.delete(ns);
      // Back to an array once it is small again (a namespace emptied after a burst of pods).
      else if (b.size <= ObjectStore.SMALL_BUCKET / 2) this.buckets.set(ns, [...b.values()]);
    } else {
      const i = b.findIndex((x) => nameOf(x) === name);
      if (i < 0) return undefined;
      old = b[i];
      if (b.length === 1) this.buckets.delete(ns); else b.splice(i, 1);
    }
    this.count--;
    return old;
  }

  /** The objects of one namespace (a copy). */
  inNamespace(ns: string): T[] {
    const b = this.buckets.get(ns);
    if (b === undefined) return [];
    return b instanceof Map ? [...b.values()] : [...b];
  }

  /** Every object. */
  *values(): IterableIterator<T> {
    for (const b of this.buckets.values()) yield* (b instanceof Map ? b.values() : b);
  }

  /** Every object with its namespace key. */
  *entries(): IterableIterator<[string, T]> {
    for (const [ns, b] of this.buckets) for (const o of b instanceof Map ? b.values() : b) yield [ns, o];
  }
}
