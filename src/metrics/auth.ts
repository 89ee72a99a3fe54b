// Who may read /metrics, decided by the apiserver as controller-runtime's
// filters.WithAuthenticationAndAuthorization does: the bearer token is checked with a TokenReview, the
// user it names with a SubjectAccessReview for the request's path and verb (GET /metrics -> nonResourceURL
// /metrics, verb get). Answers are cached like the apiserver's delegating authenticator/authorizer
// (token 1 min, allowed 5 min, denied 30 s), so a scrape every 30 s costs no review most of the time.
// Reviews the cache cannot answer are capped in flight: a client sending a new token with every request
// gets 429s instead of an unbounded stream of TokenReviews sent on the operator's behalf. Renewals of
// tokens and allows seen before have a cap of their own, and refusals are cached apart, so such a flood
// cannot take the scrapers' slots or entries.
import { createHash } from 'node:crypto';
import type { RestClient } from '../kube/rest.ts';

export interface UserInfo { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }

export type AccessDecision =
  | { allowed: true; user: string }
  | { allowed: false; status: 401 | 403 | 429 | 500; message: string; cause?: unknown };

export interface AccessReviewOptions {
  authnTtlMs?: number;
  allowTtlMs?: number;
  denyTtlMs?: number;
  /** Cache entries kept per kind; the oldest go first. */
  maxEntries?: number;
  /** Reviews (TokenReview or SubjectAccessReview) sent at once; a request needing one more gets 429. */
  maxReviewsInFlight?: number;
  now?: () => number;
}

interface Entry<T> { expires: number; value: Promise<T> }

/** A small TTL cache of promises: concurrent requests with the same key share one review. */
class TtlCache<T> {
  private readonly map = new Map<string, Entry<T>>();
  /** Lookups in flight, apart: a pending one evicts no settled entry (refused tokens never get in). */
  private readonly inflight = new Map<string, Promise<T>>();
  private readonly max: number;
  private readonly now: () => number;
  constructor(max: number, now: () => number) { this.max = max; this.now = now; }

  /** Whether the key was answered before and kept here (fresh or expired, not yet evicted). */
  known(key: string): boolean { return this.map.has(key); }

  /** The value while fresh. */
  fresh(key: string): Promise<T> | undefined {
    const hit = this.map.get(key);
    return hit && hit.expires > this.now() ? hit.value : undefined;
  }

  private put(key: string, entry: Entry<T>): void {
    this.map.delete(key);
    this.map.set(key, entry);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value!);
  }

  /**
   * The cached value, else `load()`'s. A value `elsewhere.when` picks moves to `elsewhere.cache` once
   * known: refused tokens are kept apart, so a stream of them never evicts the scrapers' entries.
   */
  get(key: string, load: () => Promise<T>, ttl: (v: T) => number, elsewhere?: { when: (v: T) => boolean; cache: TtlCache<T> }): Promise<T> {
    const hit = this.fresh(key) ?? elsewhere?.cache.fresh(key) ?? this.inflight.get(key);
    if (hit) return hit;
    const value = load();
    this.inflight.set(key, value);
    // Errors are not cached: the next request asks again.
    value.then((v) => {
      this.inflight.delete(key);
      (elsewhere?.when(v) ? elsewhere.cache : this).put(key, { expires: this.now() + ttl(v), value });
    }, () => { this.inflight.delete(key); });
    return value;
  }
}

const REVIEW_TIMEOUT_MS = 10_000;

class ReviewsBusy extends Error {}

export class DelegatedAccess {
  private readonly tokens: TtlCache<UserInfo | undefined>;
  /** Tokens the apiserver did not authenticate: apart, so a flood of them cannot evict valid ones. */
  private readonly refusedTokens: TtlCache<UserInfo | undefined>;
  private readonly decisions: TtlCache<{ allowed: boolean; reason: string }>;
  /** Denials, apart: a client asking for a thousand paths it may not read cannot evict the scrapers' allows. */
  private readonly deniedDecisions: TtlCache<{ allowed: boolean; reason: string }>;
  private readonly o: Required<Omit<AccessReviewOptions, 'now' | 'maxEntries'>>;
  private readonly rest: Pick<RestClient, 'request'>;
  private reviewsInFlight = 0;
  /** Renewals (a token or an allow known before, expired): their own cap, so a flood of new tokens cannot starve them. */
  private renewalsInFlight = 0;

  constructor(rest: Pick<RestClient, 'request'>, options: AccessReviewOptions = {}) {
    this.rest = rest;
    // Monotonic: a wall clock stepped back would keep an allow cached long after its binding went.
    const now = options.now ?? ((): number => performance.now());
    this.tokens = new TtlCache(options.maxEntries ?? 1024, now);
    this.refusedTokens = new TtlCache(options.maxEntries ?? 1024, now);
    this.decisions = new TtlCache(options.maxEntries ?? 1024, now);
    this.deniedDecisions = new TtlCache(options.maxEntries ?? 1024, now);
    this.o = { authnTtlMs: options.authnTtlMs ?? 60_000, allowTtlMs: options.allowTtlMs ?? 300_000, denyTtlMs: options.denyTtlMs ?? 30_000, maxReviewsInFlight: options.maxReviewsInFlight ?? 8 };
  }

  /** Runs one review within its in-flight cap (a refusal is not cached: the next request asks again). */
  private async review<T>(send: () => Promise<T>, renewal: boolean): Promise<T> {
    if ((renewal ? this.renewalsInFlight : this.reviewsInFlight) >= this.o.maxReviewsInFlight) throw new ReviewsBusy();
    if (renewal) this.renewalsInFlight++; else this.reviewsInFlight++;
    try { return await send(); } finally { if (renewal) this.renewalsInFlight--; else this.reviewsInFlight--; }
  }

  private static busy(cause: unknown): AccessDecision | undefined {
    return cause instanceof ReviewsBusy ? { allowed: false, status: 429, message: 'Too many requests: try again shortly' } : undefined;
  }

  /** The decision for one request: 401 without a valid token, 403 when the user may not, 500 when the apiserver cannot say. */
  async check(authorization: string | undefined, method: string, path: string): Promise<AccessDecision> {
    const token = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
    if (!token) return { allowed: false, status: 401, message: 'Unauthorized' };
    let user: UserInfo | undefined;
    try {
      // Keyed by a hash: the cache never holds a usable credential.
      const key = createHash('sha256').update(token).digest('hex');
      user = await this.tokens.get(key, () => this.review(() => this.tokenReview(token), this.tokens.known(key)), () => this.o.authnTtlMs,
        { when: (u) => u === undefined, cache: this.refusedTokens });
    } catch (cause) {
      return DelegatedAccess.busy(cause) ?? { allowed: false, status: 500, message: 'Authentication failed', cause };
    }
    if (!user) return { allowed: false, status: 401, message: 'Unauthorized' };
    const verb = method.toLowerCase();
    const u = user;
    try {
      const key = JSON.stringify([u.username, u.uid, u.groups, u.extra, verb, path]);
      const d = await this.decisions.get(key, () => this.review(() => this.accessReview(u, verb, path), this.decisions.known(key)), (v) => (v.allowed ? this.o.allowTtlMs : this.o.denyTtlMs),
        { when: (v) => !v.allowed, cache: this.deniedDecisions });
      return d.allowed ? { allowed: true, user: u.username } : { allowed: false, status: 403, message: `Authorization denied for user ${u.username}` };
    } catch (cause) {
      return DelegatedAccess.busy(cause) ?? { allowed: false, status: 500, message: `Authorization for user ${u.username} failed`, cause };
    }
  }

  private async tokenReview(token: string): Promise<UserInfo | undefined> {
    const r = await this.rest.request<{ status?: { authenticated?: boolean; user?: UserInfo; error?: string } }>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }, timeoutMs: REVIEW_TIMEOUT_MS,
    });
    return r.status?.authenticated && r.status.user?.username ? r.status.user : undefined;
  }

  private async accessReview(user: UserInfo, verb: string, path: string): Promise<{ allowed: boolean; reason: string }> {
    const r = await this.rest.request<{ status?: { allowed?: boolean; reason?: string } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, nonResourceAttributes: { path, verb } },
      },
      timeoutMs: REVIEW_TIMEOUT_MS,
    });
    return { allowed: r.status?.allowed === true, reason: r.status?.reason ?? '' };
  }
}
