// A list-watch informer that heals, written over our RestClient instead of @kubernetes/client-node's
// (whose ListWatch stops for good on errors other than 410 Gone, and whose import alone costs ~90 MB).
// It does what client-go's reflector does:
//   - lists in pages (limit/continue: one consistent snapshot without one huge response in memory),
//     then watches from the list's resourceVersion with bookmarks;
//   - a server-ended watch (its timeoutSeconds) resumes from the last resourceVersion, without a relist;
//   - 410 Gone (an expired resourceVersion or continue token) relists at once;
//   - any other failure retries after a jittered exponential backoff;
//   - a watch silent for longer than the silence limit (3 min by default; the apiserver sends a bookmark
//     about once a minute) is presumed hung, aborted and relisted (client-node #364/#596/#958).
// A relist replaces the cache and reports the difference: objects that changed while the watch was down
// come as updates, objects deleted meanwhile as deletes. Handlers run synchronously and must only enqueue.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { MAX_RETRY_AFTER_MS, apiErrorOf, isGone, statusError, type RestClient, type Status, type WatchEvent } from './rest.ts';
import { ObjectStore } from './store.ts';

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  /** `old` is the object the cache held before. */
  update?: (obj: T, old: T) => void;
  delete?: (obj: T) => void;
  /**
   * After a relist has reported its differences, with the list's resourceVersion: an object created and
   * deleted within the watch's gap appears in neither, and whoever remembers writing it must forget it.
   */
  relisted?: (resourceVersion: string | undefined) => void;
}

/** What every cached object keeps: the cache is keyed by namespace and name, and a relist compares resourceVersions. */
export interface RawObject { metadata?: { name?: string; namespace?: string; resourceVersion?: string } }

/**
 * Reduces an object as the apiserver sent it (`Raw`, parsed JSON) to what the controller reads
 * (`Cached`). It must keep metadata.name, metadata.namespace and metadata.resourceVersion. Build new
 * objects rather than `delete` fields: an object that lost properties to `delete` turns into a hash table
 * (V8's dictionary mode), several times its size, and 10 000 of them add up.
 */
export type CacheTransform<Raw, Cached> = (raw: Raw) => Cached;

/** Drops metadata.managedFields, often the largest part of an object, as controller-runtime does by default. */
export function stripManagedFields<T extends RawObject>(o: T): T {
  const m = o.metadata as Record<string, unknown> | undefined;
  if (!m || !('managedFields' in m)) return o;
  const { managedFields: _, ...metadata } = m;
  return { ...o, metadata };
}

/** Three bookmark intervals: a healthy watch is never this silent. */
export const DEFAULT_WATCH_SILENCE_LIMIT_MS = 3 * 60_000;

/** Why an informer started over: a failed list or watch, a silent watch, or an expired resourceVersion (410). */
export type RestartReason = 'error' | 'silence' | 'expired';

interface ListPage<Raw> { items: Raw[]; metadata: { resourceVersion?: string; continue?: string } }

const resourceVersion = (o: RawObject): string | undefined => o.metadata?.resourceVersion;
/** Where an object is cached, read from the object as the server sent it (transforms keep these fields). */
const keyOf = (o: RawObject): { ns: string; name: string } => ({ ns: o.metadata?.namespace ?? '', name: o.metadata?.name ?? '' });

/**
 * The store's namespace key for a cached object: the cached form's own string when it is the same, so a
 * transform that interns names keeps one copy of each (the raw object's are fresh from JSON.parse: 3 000
 * copies of each namespace's name). The store reads the name from the cached object itself.
 */
const storeNamespaceOf = (rawNs: string, cached: RawObject): string => (cached.metadata?.namespace === rawNs ? cached.metadata.namespace : rawNs);

export interface InformerOptions {
  labelSelector?: string;
  /** E.g. metadata.name=X: one object, which RBAC can then grant by resourceName. */
  fieldSelector?: string;
  /**
   * A watch silent for longer than this (default DEFAULT_WATCH_SILENCE_LIMIT_MS) has hung and is
   * restarted with a relist. Bookmarks (about one a minute) and events count as activity, and so does
   * the reconnect after the server ends a watch (every 4-6 min, asked for below).
   */
  maxSilenceMs?: number;
  /** Objects per list page. */
  pageSize?: number;
}

export class ResilientInformer<Raw extends RawObject, T extends RawObject = Raw> {
  /** namespace ('' for cluster-scoped) -> name -> object. */
  private store = new ObjectStore<T>();
  private resourceVersion: string | undefined;
  private stopped = true;
  private restarts = 0;
  private failures = 0; // consecutive, for backoff; reset by a watch that works (a list alone does not)
  /** Called on every restart, e.g. to count it in a metric. */
  onRestart: (reason: RestartReason) => void = () => undefined;
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private lastEvent = Date.now();
  private changes = 0;
  private readonly rest: RestClient;
  private readonly path: string;
  private handlers: InformerHandlers<T>;
  private readonly log: Logger;
  private readonly labelSelector: string | undefined;
  private readonly fieldSelector: string | undefined;
  private readonly maxSilenceMs: number;
  private readonly pageSize: number;
  /** Applied to every object before it is cached or handed to a handler; by default only managedFields go. */
  transform: CacheTransform<Raw, T> = (raw) => stripManagedFields(raw) as unknown as T;
  private watchdog: NodeJS.Timeout | undefined;
  private current: AbortController | undefined;
  private silenced = false;
  private loop: Promise<void> | undefined;

  constructor(rest: RestClient, path: string, handlers: InformerHandlers<T>, log: Logger, o: InformerOptions = {}) {
    this.rest = rest;
    this.path = path;
    this.handlers = handlers;
    this.log = log.child({ informer: path });
    this.labelSelector = o.labelSelector;
    this.fieldSelector = o.fieldSelector;
    this.maxSilenceMs = o.maxSilenceMs ?? rest.watchSilenceLimitMs ?? DEFAULT_WATCH_SILENCE_LIMIT_MS;
    this.pageSize = o.pageSize ?? 500;
  }

  get name(): string { return this.path; }
  /** Replaces the event handlers (caches are built first, handlers wired to them after). */
  on(handlers: InformerHandlers<T>): void { this.handlers = handlers; }
  get hasSynced(): boolean { return this.synced; }
  get restartCount(): number { return this.restarts; }
  /** Objects in the cache. */
  get size(): number { return this.store.size; }
  /** Grows with every change the cache takes (an add, update or delete, a relist): what is derived from the cache is stale once it moved. */
  get changeCount(): number { return this.changes; }
  /** Seconds since the last event or (re)list: a watchdog signal for silent watches. */
  get lastEventAgeSeconds(): number { return (Date.now() - this.lastEvent) / 1000; }

  list(namespace?: string): readonly T[] {
    return namespace !== undefined ? this.store.inNamespace(namespace) : [...this.store.values()];
  }

  get(name: string, namespace?: string): T | undefined { return this.store.get(namespace ?? '', name); }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Starts listing and watching; resolves after the first list attempt (retries continue in the background). */
  async start(): Promise<void> {
    this.stopped = false;
    // After a stop, start over with a list: resuming an old resourceVersion could replay a long history
    // (or hit 410), and a relist reports exactly what changed meanwhile.
    this.resourceVersion = undefined;
    this.watchdog = setInterval(() => {
      if (this.current && this.lastEventAgeSeconds * 1000 > this.maxSilenceMs) {
        this.log.warn({ silentSeconds: Math.round(this.lastEventAgeSeconds) }, 'watch silent for too long; restarting informer');
        this.silenced = true;
        this.current.abort();
      }
    }, Math.min(15_000, this.maxSilenceMs / 4));
    this.watchdog.unref();
    let firstAttempt!: () => void;
    const attempted = new Promise<void>((r) => { firstAttempt = r; });
    this.loop = this.run(firstAttempt);
    await attempted;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.current?.abort();
    await this.loop;
  }

  private touch(): void { this.lastEvent = Date.now(); }

  private async run(firstAttempt: () => void): Promise<void> {
    let gone = 0; // consecutive 410s: the first relists at once, repeated ones back off
    while (!this.stopped) {
      this.current = new AbortController();
      this.silenced = false;
      try {
        if (this.resourceVersion === undefined) {
          try { await this.relist(this.current.signal); } finally { firstAttempt(); }
        }
        const started = Date.now();
        const events = await this.watch(this.current.signal);
        // As client-go: a watch that ends within a second having delivered nothing is a failure (a proxy
        // closing it, an apiserver shutting down), not a server timeout; reconnecting at once would spin.
        if (events === 0 && Date.now() - started < 1000) throw new Error('watch ended at once without events');
        this.failures = 0;
        gone = 0;
      } catch (err) {
        if (this.stopped) break;
        if (this.silenced) {
          this.silenced = false;
          this.restarts++;
          this.onRestart('silence');
          this.resourceVersion = undefined; // a hung watch may have missed events: relist
          continue;
        }
        if (isGone(err) && gone++ === 0) {
          this.log.info({ err: String(err) }, 'resourceVersion expired; relisting');
          this.restarts++;
          this.onRestart('expired');
          this.resourceVersion = undefined;
          continue;
        }
        if (isGone(err)) this.resourceVersion = undefined; // again: relist after the backoff below
        // Jittered exponential backoff: 0.5-1.5 x 250 ms * 2^n, capped at 30 s. A Retry-After (429 from
        // APF) is honoured when longer, up to the REST client's cap: a stalled watch is a stale cache.
        const retryAfterMs = Math.min(MAX_RETRY_AFTER_MS, (apiErrorOf(err)?.retryAfterSeconds ?? 0) * 1000);
        const delay = Math.max(Math.min(30_000, 250 * 2 ** Math.min(this.failures++, 7)) * (0.5 + Math.random()), retryAfterMs);
        this.restarts++;
        this.log.warn({ err: String(err), delayMs: Math.round(delay), restarts: this.restarts }, 'watch failed; restarting informer');
        this.onRestart('error');
        try { await sleep(delay, undefined, { signal: this.current.signal, ref: false }); } catch { /* stopped */ }
      }
    }
    this.current = undefined;
  }

  /** Lists every page, then replaces the cache and reports what changed since the last one. */
  private async relist(signal: AbortSignal): Promise<void> {
    this.touch();
    let fresh = new ObjectStore<T>();
    let cont: string | undefined;
    let rv: string | undefined;
    // A continue token expires with the compaction window (about 5 min): a paged list slower than that
    // would start over for ever. As client-go's pager, it then lists once more in one piece.
    let whole = false;
    for (;;) {
      let page: ListPage<Raw>;
      try {
        page = await this.rest.get<ListPage<Raw>>(this.path, { labelSelector: this.labelSelector, fieldSelector: this.fieldSelector, limit: whole ? undefined : this.pageSize, continue: cont }, { signal });
      } catch (err) {
        if (cont === undefined || whole || !isGone(err)) throw err;
        this.log.info({ err: String(err) }, 'continue token expired during a paged list; listing in one piece');
        whole = true; cont = undefined; fresh = new ObjectStore<T>();
        continue;
      }
      if (signal.aborted) throw new Error('aborted');
      this.touch(); // a long list is progress, not silence
      for (const item of page.items) {
        const raw = keyOf(item);
        // Unchanged since the last list or event: keep the cached object, without transforming again.
        const prev = this.store.get(raw.ns, raw.name);
        const o = prev && resourceVersion(prev) === resourceVersion(item) ? prev : this.cacheForm(item);
        if (!o) continue;
        fresh.set(storeNamespaceOf(raw.ns, o), o);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
      if (!cont) break;
    }

    const old = this.store;
    const added: T[] = [];
    const updated: [T, T][] = [];
    for (const [ns, o] of fresh.entries()) {
      const p = old.get(ns, o.metadata!.name!);
      if (!p) added.push(o);
      else if (p !== o) updated.push([o, p]); // the same object: unchanged, handlers already saw it
    }
    const deleted: T[] = [];
    for (const [ns, o] of old.entries()) if (!fresh.has(ns, o.metadata!.name!)) deleted.push(o);
    this.store = fresh;
    this.changes++;
    this.resourceVersion = rv;
    // Not failures = 0: only a watch that works ends the backoff (a watch that keeps answering 410 would
    // otherwise relist every 250 ms for ever).
    this.touch();
    for (const o of added) this.dispatch('add', o);
    for (const [o, p] of updated) this.dispatch('update', o, p);
    for (const o of deleted) this.dispatch('delete', o);
    try { this.handlers.relisted?.(rv); } catch (err) { this.log.error({ err: err instanceof Error ? err.stack : String(err), event: 'relisted' }, 'informer handler threw'); }
    if (!this.synced) { this.synced = true; this.syncWaiters.splice(0).forEach((w) => w()); }
  }

  /** The transformed object, or undefined (logged) if the transform fails on it: one bad object must not stop the informer. */
  private cacheForm(raw: Raw): T | undefined {
    try {
      const o = this.transform(raw);
      // The store finds objects by the cached form's name: a transform must keep it.
      if (o.metadata?.name !== raw.metadata?.name) throw new Error('the cache transform changed metadata.name');
      return o;
    } catch (err) {
      const m = raw.metadata;
      this.log.error({ err: err instanceof Error ? err.message : String(err), object: `${m?.namespace ?? ''}/${m?.name ?? ''}` }, 'cannot cache object; skipped');
      return undefined;
    }
  }

  /** Watches until the server ends the stream; returns how many events arrived. */
  private async watch(signal: AbortSignal): Promise<number> {
    // Bookmarks keep the resourceVersion fresh (fewer 410 relists); the server-side timeout guarantees a
    // reconnect, i.e. a heartbeat, every few minutes.
    const query = {
      labelSelector: this.labelSelector, fieldSelector: this.fieldSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true,
      timeoutSeconds: 240 + Math.floor(Math.random() * 120),
    };
    this.touch();
    let events = 0;
    await this.rest.watch<Raw>(this.path, query, (e: WatchEvent<Raw>) => { events++; this.onEvent(e); }, signal);
    this.touch();
    return events;
  }

  private onEvent(e: WatchEvent<Raw>): void {
    this.touch();
    if (e.type === 'ERROR') {
      const s = e.object as Status;
      throw statusError(`watch ${this.path}`, s.code ?? 500, s, 'error event');
    }
    // The resourceVersion advances only once the event is applied: a watch resumed after a failure
    // here gets the event again.
    const rv = e.object.metadata?.resourceVersion;
    if (e.type !== 'BOOKMARK') this.apply(e);
    if (rv) this.resourceVersion = rv;
  }

  private apply(e: WatchEvent<Raw>): void {
    this.changes++;
    const { ns, name } = keyOf(e.object);
    if (e.type === 'DELETED') {
      // Handlers see the object as they last saw it, and a delete only for what they were told exists.
      const cached = this.store.delete(ns, name);
      if (cached) this.dispatch('delete', cached);
      return;
    }
    const o = this.cacheForm(e.object);
    if (!o) return;
    const old = this.store.set(storeNamespaceOf(ns, o), o);
    if (old) this.dispatch('update', o, old);
    else this.dispatch('add', o);
  }

  private dispatch(kind: 'add' | 'update' | 'delete', o: T, old?: T): void {
    try {
      if (kind === 'update') this.handlers.update?.(o, old!);
      else this.handlers[kind]?.(o);
    } catch (err) {
      // A handler bug must not stop the watch (every later event would be lost): log it loudly instead.
      this.log.error({ err: err instanceof Error ? err.stack : String(err), event: kind }, 'informer handler threw');
    }
  }
}
