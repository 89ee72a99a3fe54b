// Our own writes, remembered until the informer delivers them, so a reconcile that runs before the watch
// catches up does not write the same object again. Like kube-scheduler's AssumeCache, it compares
// resourceVersions as integers (etcd revisions); an entry also expires, so a lost event cannot pin it.
export interface Versioned { metadata: { name: string; namespace?: string; resourceVersion?: string } }

/** The object's resourceVersion as an etcd revision, comparable with < and >. */
const revision = (o: Versioned | undefined): bigint => {
  try { return BigInt(o?.metadata.resourceVersion ?? '0'); } catch { return 0n; }
};

export class AssumedWrites<T extends Versioned> {
  private readonly entries = new Map<string, { obj: T | null; rv: bigint; at: number }>();
  private readonly ttlMs: number;
  private writes = 0;
  constructor(ttlMs = 10_000) { this.ttlMs = ttlMs; }

  private static key(namespace: string, name: string): string { return `${namespace}/${name}`; }

  /** After a create/update/apply: the stored object the apiserver returned, in the form the cache keeps. */
  assume(obj: T): void {
    this.sweep();
    this.entries.set(AssumedWrites.key(obj.metadata.namespace ?? '', obj.metadata.name), { obj, rv: revision(obj), at: Date.now() });
  }

  /** After a delete: the object is gone whatever the cache still says (up to `cachedRv`). */
  assumeDeleted(namespace: string, name: string, cachedRv: string | undefined): void {
    this.sweep();
    this.entries.set(AssumedWrites.key(namespace, name), { obj: null, rv: revision({ metadata: { name, resourceVersion: cachedRv } }), at: Date.now() });
  }

  /** The freshest view of one object: the cache's, unless our own write is newer than it. */
  resolve(namespace: string, name: string, cached: T | undefined): T | undefined {
    const k = AssumedWrites.key(namespace, name);
    const e = this.entries.get(k);
    if (!e) return cached;
    const expired = Date.now() - e.at > this.ttlMs;
    if (e.obj === null) {
      // Deleted by us: the cache catches up when it no longer holds the version we deleted.
      if (expired || !cached || revision(cached) > e.rv) { this.entries.delete(k); return cached; }
      return undefined;
    }
    if (expired || (cached && revision(cached) >= e.rv)) { this.entries.delete(k); return cached; }
    return e.obj;
  }

  /** Our last write of the object, if still remembered (no bookkeeping: for reuse of derived values). */
  peek(namespace: string, name: string): T | undefined {
    return this.entries.get(AssumedWrites.key(namespace, name))?.obj ?? undefined;
  }

  /**
   * A cache event for the object. Returns whether it delivers exactly our last write (its resourceVersion):
   * the reconciler already counted it, so it carries nothing new (kube-controller-manager's expectations).
   * Once the cache holds our write or anything newer, or the object is deleted, the entry is dropped and the
   * cache is the truth again: otherwise a delete by someone else right after the echo would read as our
   * write still on its way, and go unrepaired until the entry expired.
   */
  observe(namespace: string, name: string, resourceVersion: string | undefined, deleted = false): boolean {
    const k = AssumedWrites.key(namespace, name);
    const e = this.entries.get(k);
    if (!e) return false;
    const rv = revision({ metadata: { name, resourceVersion } });
    const echo = !deleted && e.obj !== null && resourceVersion !== undefined && e.obj.metadata.resourceVersion === resourceVersion;
    // Our write: caught up by its echo, anything newer, or any deletion: a delete event carries the object
    // as the cache last held it, which after a relist can be older than our write (deleted in the watch's
    // gap), and the cache, holding nothing, is the truth. Our delete: by the deletion's event, or by a newer
    // object (made again by someone).
    const caughtUp = deleted || (e.obj !== null ? rv >= e.rv : rv > e.rv);
    if (caughtUp) this.entries.delete(k);
    return echo;
  }

  /**
   * After a relist at `listRv`: our writes (not deletes) of objects the cache does not hold, made at or
   * before the list, were deleted since (in the watch's gap, so no event told of it). They are forgotten and
   * returned as [namespace, name], for their owners to be reconciled.
   */
  goneAfterRelist(listRv: string | undefined, cached: (namespace: string, name: string) => boolean): [string, string][] {
    const upTo = revision({ metadata: { name: '', resourceVersion: listRv } });
    const gone: [string, string][] = [];
    for (const [k, e] of this.entries) {
      if (e.obj === null || e.rv > upTo) continue;
      const ns = e.obj.metadata.namespace ?? '';
      if (cached(ns, e.obj.metadata.name)) continue;
      this.entries.delete(k);
      gone.push([ns, e.obj.metadata.name]);
    }
    return gone;
  }

  get size(): number { return this.entries.size; }

  /** Entries are dropped when read after expiry; this drops those never read again (deleted namespaces). */
  private sweep(): void {
    if (++this.writes % 1000 !== 0) return;
    const now = Date.now();
    for (const [k, e] of this.entries) if (now - e.at > this.ttlMs) this.entries.delete(k);
  }
}
