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

const keyOf = (o: RawObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class ResilientInformer<T extends RawObject> {
  private inner: (Informer<KubernetesObject> & ObjectCache<KubernetesObject>) | undefined;
  private stopped = false;
  private restarts = 0;
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

  constructor(kc: KubeConfig, rest: RestClient, path: string, handlers: InformerHandlers<T>, log: Logger, labelSelector?: string) {
    this.kc = kc;
    this.rest = rest;
    this.path = path;
    this.handlers = handlers;
    this.log = log.child({ informer: path });
    this.labelSelector = labelSelector;
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
    await this.startInner();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.inner?.stop();
  }

  private async startInner(): Promise<void> {
    const listFn = (): Promise<KubernetesListObject<KubernetesObject>> =>
      this.rest.get<KubernetesListObject<KubernetesObject>>(this.path, this.labelSelector ? { labelSelector: this.labelSelector } : undefined);
    const inf = makeInformer<KubernetesObject>(this.kc, this.path, listFn, this.labelSelector);
    const as = (o: KubernetesObject): T => o as unknown as T;
    const touch = (): void => { this.lastEvent = Date.now(); };
    inf.on('add', (o) => { touch(); this.known.set(keyOf(as(o)), as(o)); this.handlers.add?.(as(o)); });
    inf.on('update', (o) => { touch(); this.known.set(keyOf(as(o)), as(o)); this.handlers.update?.(as(o)); });
    inf.on('delete', (o) => { touch(); this.known.delete(keyOf(as(o))); this.handlers.delete?.(as(o)); });
    inf.on('connect', touch);
    let failed = false;
    inf.on('error', (err) => {
      failed = true;
      if (this.stopped || this.inner !== inf) return;
      this.restarts++;
      const delay = Math.min(30_000, 250 * 2 ** Math.min(this.restarts, 7)) * (0.5 + Math.random());
      this.log.warn({ err: String(err), delayMs: Math.round(delay), restarts: this.restarts }, 'watch failed; restarting informer');
      setTimeout(() => {
        if (this.stopped || this.inner !== inf) return;
        void inf.stop().catch(() => undefined);
        this.startInner().catch((e: unknown) => this.log.error({ err: String(e) }, 'informer restart failed'));
      }, delay).unref();
    });
    this.inner = inf;
    await inf.start(); // resolves after the initial list, before the watch streams
    if (failed) return; // the error handler schedules the next attempt
    touch();
    // A fresh informer starts with an empty cache, so objects deleted while the watch was down would never
    // get a delete event: everything we knew of that the new list lacks is reported deleted now.
    for (const [key, old] of this.known) {
      if (!inf.get(old.metadata?.name ?? '', old.metadata?.namespace)) { this.known.delete(key); this.handlers.delete?.(old); }
    }
    if (!this.synced) { this.synced = true; this.syncWaiters.splice(0).forEach((w) => w()); }
  }
}
