// Records core/v1 Events on TenantIsolations the way client-go's recorder does: cluster-scoped objects'
// events live in `default`; a repeat of the same event within ten minutes bumps its count instead of
// creating a new object, so a flapping namespace cannot flood etcd. Failures are logged, never thrown:
// an Event is a courtesy, not part of the isolation.
import { hash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { isNotFound, type RestClient } from './rest.ts';
import { API_VERSION, KIND } from '../api/schema.ts';
import { FIELD_MANAGER, OPERATOR_NAME } from '../policy/labels.ts';
import type { DrainWaiters } from '../queue/drain-waiters.ts';

/** The object an Event is about: a TenantIsolation unless `kind` says otherwise (another kind of this API group). */
export interface EventTarget { name: string; uid: string; kind?: string }
export type EventType = 'Normal' | 'Warning';

/** An Event already created: its name, how often it happened, when last (ms). */
interface Seen { name: string; count: number; at: number }

/** Items waiting to be sent as one Event: due when no item came for the window, at the latest `latest` (ms epoch). */
interface Batch { target: EventTarget; type: EventType; reason: string; message: (items: string[]) => string; items: string[]; timer: NodeJS.Timeout; due: number; latest: number }

export class EventRecorder {
  private readonly seen = new Map<string, Seen>();
  private readonly rest: RestClient;
  private readonly log: Logger;
  private readonly host: string;
  private readonly namespace: string;

  constructor(rest: RestClient, log: Logger, host: string, namespace = 'default') {
    this.rest = rest; this.log = log; this.host = host; this.namespace = namespace;
  }

  private readonly batches = new Map<string, Batch>();
  /** When the last batch of each target and reason was sent (ms epoch). */
  private readonly batchSentAt = new Map<string, number>();
  /**
   * A batch is sent no sooner than this after the previous one for the same target and reason, and is
   * held no longer than this after its first item: under a steady stream of joins (100 namespaces a second
   * across 40 tenants) a 500 ms window alone still made 0.8 Events per namespace, each a write the
   * apiserver pays for while it is busiest. client-go's own spam filter is harsher (25 per object, then one
   * per 5 minutes).
   */
  static readonly BATCH_MIN_INTERVAL_MS = 5_000;

  /**
   * Collects items (e.g. namespaces isolated in a burst) for one target and reason into a single Event, sent
   * once no item came for `windowMs` (at most BATCH_MIN_INTERVAL_MS after the first), and no sooner than
   * BATCH_MIN_INTERVAL_MS after the previous batch: a burst of 1 000 namespaces makes one Event per tenant
   * instead of 1 000 writes, a tenant's joins a few hundred milliseconds apart one between them, and a
   * steady stream one every few seconds. A lone join is reported after `windowMs`.
   */
  recordBatched(target: EventTarget, type: EventType, reason: string, item: string, message: (items: string[]) => string, windowMs = 500): void {
    const key = `${target.uid}/${reason}`;
    const now = Date.now();
    const b = this.batches.get(key);
    if (b) {
      b.items.push(item);
      // Moved later, not re-armed: the timer, when it fires early, waits out the rest (one timer per batch).
      b.due = Math.min(Math.max(b.due, now + windowMs), b.latest);
      return;
    }
    const last = this.batchSentAt.get(key);
    const due = Math.max(now + windowMs, last === undefined ? 0 : last + EventRecorder.BATCH_MIN_INTERVAL_MS);
    this.batches.set(key, { target, type, reason, message, items: [item], timer: this.arm(key, due - now), due, latest: Math.max(due, now + EventRecorder.BATCH_MIN_INTERVAL_MS) });
  }

  /**
   * While `hold.busy` (namespaces are being isolated), a due batch waits, up to its `latest`, and is woken
   * through `wake` when they are (DrainWaiters): an Event is a courtesy, and in a burst the apiserver's time
   * goes to the writes that isolate. Woken, not polled: a held batch costs no timer tick meanwhile.
   */
  hold: Pick<DrainWaiters, 'busy' | 'wakeAfter'> | undefined;

  private arm(key: string, ms: number): NodeJS.Timeout {
    const timer = setTimeout(() => {
      const b = this.batches.get(key);
      const now = Date.now();
      const wait = b ? b.due - now : 0;
      if (b && wait > 0) b.timer = this.arm(key, wait);
      else if (b && now < b.latest && this.hold?.busy) this.hold.wakeAfter(key, b.latest - now);
      else this.emit(key);
    }, ms);
    timer.unref();
    return timer;
  }

  /** A held batch's wait is over (namespaces isolated, or its `latest` reached): sent, or re-armed if an item moved it later. */
  wake(key: string): void {
    const b = this.batches.get(key);
    if (!b) return;
    const wait = b.due - Date.now(); // never past `latest`: recordBatched caps it
    if (wait > 0) { clearTimeout(b.timer); b.timer = this.arm(key, wait); } else this.emit(key);
  }

  /** Sends every pending batch now (on shutdown). */
  flush(): void {
    for (const key of [...this.batches.keys()]) this.emit(key);
  }

  private emit(key: string): void {
    const b = this.batches.get(key);
    if (!b) return;
    clearTimeout(b.timer);
    this.batches.delete(key);
    // Only the spacing matters: entries older than it are dropped as the map grows (one per tenant and reason).
    this.batchSentAt.delete(key);
    this.batchSentAt.set(key, Date.now());
    if (this.batchSentAt.size > 5000) this.batchSentAt.delete(this.batchSentAt.keys().next().value!);
    this.record(b.target, b.type, b.reason, b.message(b.items));
  }

  record(target: EventTarget, type: EventType, reason: string, message: string): void {
    const sending = this.send(target, type, reason, message).catch((e: unknown) =>
      this.log.warn({ err: String(e), tenant: target.name, reason }, 'could not record event'));
    this.sending.add(sending);
    void sending.finally(() => this.sending.delete(sending));
  }

  private readonly sending = new Set<Promise<void>>();

  /** Events not yet stored: batches waiting for their window, and sends in flight (a gauge, for quiescence). */
  get pending(): number { return this.batches.size + this.sending.size; }

  /** Resolves when no Event is being sent (batches still waiting for their window are not sent yet: flush()). */
  async idle(): Promise<void> {
    while (this.sending.size > 0) await Promise.all(this.sending);
  }

  private async send(target: EventTarget, type: EventType, reason: string, message: string): Promise<void> {
    // The message by its digest: up to 5 000 keys are kept, and a batch's message lists its namespaces.
    const key = `${target.uid}/${type}/${reason}/${hash('sha1', message, 'base64url')}`;
    const now = new Date();
    const prev = this.seen.get(key);
    const base = `/api/v1/namespaces/${this.namespace}/events`;
    if (prev && now.getTime() - prev.at < 10 * 60_000) {
      prev.count++; prev.at = now.getTime();
      try {
        await this.rest.mergePatch(`${base}/${prev.name}`, { count: prev.count, lastTimestamp: now.toISOString() }, FIELD_MANAGER);
        return;
      } catch (err) {
        // As client-go: an Event that is gone (expired, deleted, or never created) is created anew.
        if (!isNotFound(err)) throw err;
      }
    }
    const name = `${target.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`;
    const seen = { name, count: 1, at: now.getTime() };
    this.seen.set(key, seen);
    if (this.seen.size > 5000) this.seen.delete(this.seen.keys().next().value!);
    try {
      await this.rest.create(base, {
        apiVersion: 'v1', kind: 'Event',
        metadata: { name, namespace: this.namespace },
        involvedObject: { apiVersion: API_VERSION, kind: target.kind ?? KIND, name: target.name, uid: target.uid },
        type, reason, message: message.slice(0, 1024),
        source: { component: OPERATOR_NAME, host: this.host },
        reportingComponent: OPERATOR_NAME, reportingInstance: this.host,
        firstTimestamp: now.toISOString(), lastTimestamp: now.toISOString(), count: 1,
      }, FIELD_MANAGER);
    } catch (err) {
      // Not created: a repeat must create it, not patch an Event that does not exist.
      if (this.seen.get(key) === seen) this.seen.delete(key);
      throw err;
    }
  }
}
