// An informer that heals: @kubernetes/client-node's ListWatch stops for good on errors other than 410
// Gone, so we rebuild it after a jittered backoff. Handlers run synchronously and must only enqueue.
import { makeInformer, type KubeConfig, type KubernetesObject, type KubernetesListObject, type Informer, type ObjectCache } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { RestClient } from './rest.ts';

export interface InformerHandlers<T> {
  add?: (obj: T) => void;
  update?: (obj: T) => void;
  delete?: (obj: T) => void;
}

/** Raw JSON objects as the apiserver sends them (timestamps stay strings). */
export interface RawObject { metadata?: { name?: string; namespace?: string } }

/** Reduces a cached object to what the controller reads; mutates (the informer caches this very object). */
export type CacheTransform = (o: Record<string, unknown>) => void;

/** Drops metadata.managedFields, often the largest part of an object, as controller-runtime does by default. */
export const stripManagedFields: CacheTransform = (o) => {
  const m = o.metadata as Record<string, unknown> | undefined;
  if (m) delete m.managedFields;
};

/** Keeps only the listed top-level and metadata fields (at 10 000 namespaces every byte counts 10 000 times). */
export function keepOnly(top: string[], metadata: string[]): CacheTransform {
  return (o) => {
    for (const k of Object.keys(o)) if (!top.includes(k) && k !== 'metadata') delete o[k];
    const m = o.metadata as Record<string, unknown> | undefined;
    if (m) for (const k of Object.keys(m)) if (!metadata.includes(k)) delete m[k];
  };
}

const keyOf = (o: RawObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class ResilientInformer<T extends RawObject> {
  private inner: (Informer<KubernetesObject> & ObjectCache<KubernetesObject>) | undefined;
  private stopped = false;
  private restarts = 0;
  private failures = 0; // consecutive, for backoff; reset by a successful list
  /** Called on every restart (error or silence), e.g. to count it in a metric. */
  onRestart: (reason: 'error' | 'silence') => void = () => undefined;
  private synced = false;
  private readonly syncWaiters: (() => void)[] = [];
  private lastEvent = Date.now();
  private readonly known = new Map<string, T>();
  private readonly kc: KubeConfig;
  private readonly rest: RestClient;
  private readonly path: string;
  private readonly handlers: InformerHandlers<T>;
  private readonly log: Logger;
  private readonly labelSelector: string | undefined;
  private readonly maxSilenceMs: number;
  /** Applied to every object before it is cached or handed to a handler. */
  transform: CacheTransform = stripManagedFields;
  private watchdog: NodeJS.Timeout | undefined;

  /**
   * `maxSilenceMs`: the server ends every watch after `timeoutSeconds` (4-6 min, asked for below) and the
   * informer reconnects, which counts as activity; a watch silent for longer than this has hung and is
   * restarted with a relist (the silent-informer reports of client-node #364/#596/#958).
   */
  constructor(kc: KubeConfig, rest: RestClient, path: string, handlers: InformerHandlers<T>, log: Logger, labelSelector?: string, maxSilenceMs = 11 * 60_000) {
    this.kc = kc;
    this.rest = rest;
    this.path = path;
    this.handlers = handlers;
    this.log = log.child({ informer: path });
    this.labelSelector = labelSelector;
    this.maxSilenceMs = maxSilenceMs;
  }

  get name(): string { return this.path; }
  get hasSynced(): boolean { return this.synced; }
  get restartCount(): number { return this.restarts; }
  /** Seconds since the last event or (re)list: a watchdog signal for silent watches. */
  get lastEventAgeSeconds(): number { return (Date.now() - this.lastEvent) / 1000; }

  list(namespace?: string): readonly T[] { return (this.inner?.list(namespace) ?? []) as unknown as readonly T[]; }
  get(name: string, namespace?: string): T | undefined { return this.inner?.get(name, namespace) as T | undefined; }

  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  async start(): Promise<void> {
    this.stopped = false;
    this.watchdog = setInterval(() => {
      if (this.inner && this.lastEventAgeSeconds * 1000 > this.maxSilenceMs) {
        this.log.warn({ silentSeconds: Math.round(this.lastEventAgeSeconds) }, 'watch silent for too long; restarting informer');
        this.onRestart('silence');
        this.restart(this.inner, 0);
      }
    }, Math.min(30_000, this.maxSilenceMs / 2));
    this.watchdog.unref();
    await this.startInner();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await this.inner?.stop();
  }

  /** Replaces the informer (fresh list and watch) after `delayMs`, unless it was replaced already. */
  private restart(inf: Informer<KubernetesObject>, delayMs: number): void {
    this.restarts++;
    this.lastEvent = Date.now(); // one restart per silence, not one per watchdog tick
    setTimeout(() => {
      if (this.stopped || this.inner !== inf) return;
      void inf.stop().catch(() => undefined);
      this.startInner().catch((e: unknown) => this.log.error({ err: String(e) }, 'informer restart failed'));
    }, delayMs).unref();
  }

  private async startInner(): Promise<void> {
    const listFn = async (): Promise<KubernetesListObject<KubernetesObject>> => {
      const list = await this.rest.get<KubernetesListObject<KubernetesObject>>(this.path, this.labelSelector ? { labelSelector: this.labelSelector } : undefined);
      for (const item of list.items) this.transform(item as unknown as Record<string, unknown>);
      return list;
    };
    // The watch URL keeps this query: bookmarks keep resourceVersions fresh (fewer 410 relists) and the
    // server-side timeout guarantees a reconnect, i.e. a heartbeat, every few minutes.
    const watchPath = `${this.path}?allowWatchBookmarks=true&timeoutSeconds=${240 + Math.floor(Math.random() * 120)}`;
    const inf = makeInformer<KubernetesObject>(this.kc, watchPath, listFn, this.labelSelector);
    const as = (o: KubernetesObject): T => { this.transform(o as unknown as Record<string, unknown>); return o as unknown as T; };
    const touch = (): void => { this.lastEvent = Date.now(); };
    inf.on('add', (o) => { touch(); this.known.set(keyOf(as(o)), as(o)); this.handlers.add?.(as(o)); });
    inf.on('update', (o) => { touch(); this.known.set(keyOf(as(o)), as(o)); this.handlers.update?.(as(o)); });
    inf.on('delete', (o) => { touch(); this.known.delete(keyOf(as(o))); this.handlers.delete?.(as(o)); });
    inf.on('connect', touch);
    let failed = false;
    inf.on('error', (err) => {
      failed = true;
      if (this.stopped || this.inner !== inf) return;
      // Jittered exponential backoff: 0.5-1.5 x 250 ms * 2^n, capped at 30 s.
      const delay = Math.min(30_000, 250 * 2 ** Math.min(this.failures++, 7)) * (0.5 + Math.random());
      this.log.warn({ err: String(err), delayMs: Math.round(delay), restarts: this.restarts + 1 }, 'watch failed; restarting informer');
      this.onRestart('error');
      this.restart(inf, delay);
    });
    this.inner = inf;
    await inf.start(); // resolves after the initial list, before the watch streams
    if (failed) return; // the error handler schedules the next attempt
    this.failures = 0;
    touch();
    // A fresh informer starts with an empty cache, so objects deleted while the watch was down would never
    // get a delete event: everything we knew of that the new list lacks is reported deleted now.
    for (const [key, old] of this.known) {
      if (!inf.get(old.metadata?.name ?? '', old.metadata?.namespace)) { this.known.delete(key); this.handlers.delete?.(old); }
    }
    if (!this.synced) { this.synced = true; this.syncWaiters.splice(0).forEach((w) => w()); }
  }
}
