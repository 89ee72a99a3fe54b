// client-go's DefaultControllerRateLimiter: the slower of a per-key exponential backoff and an overall
// token bucket, so one failing key backs off alone while a mass failure cannot flood the apiserver.

export interface RateLimiter {
  /** Delay before the key may be retried; counts a failure. */
  when(key: string): number;
  forget(key: string): void;
  failures(key: string): number;
}

export class ExponentialFailureRateLimiter implements RateLimiter {
  private readonly counts = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;
  constructor(baseMs = 5, maxMs = 1_000_000) { this.baseMs = baseMs; this.maxMs = maxMs; }
  when(key: string): number {
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }
  forget(key: string): void { this.counts.delete(key); }
  failures(key: string): number { return this.counts.get(key) ?? 0; }
}

export class TokenBucketRateLimiter implements RateLimiter {
  private tokens: number;
  private last: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;
  /** `now` is monotonic by default: a wall-clock step back would otherwise leave a debt that delays every retry. */
  constructor(qps = 10, burst = 100, now: () => number = () => performance.now()) {
    this.qps = qps; this.burst = burst; this.now = now;
    this.tokens = burst; this.last = now();
  }
  when(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, t - this.last) / 1000) * this.qps);
    this.last = t;
    this.tokens -= 1; // reserve a token now; a negative balance is a wait
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }
  forget(): void { /* not per key */ }
  failures(): number { return 0; }
}

export class MaxOfRateLimiter implements RateLimiter {
  private readonly limiters: RateLimiter[];
  constructor(...limiters: RateLimiter[]) { this.limiters = limiters; }
  when(key: string): number { return Math.max(...this.limiters.map((l) => l.when(key))); }
  forget(key: string): void { this.limiters.forEach((l) => l.forget(key)); }
  failures(key: string): number { return Math.max(...this.limiters.map((l) => l.failures(key))); }
}

export const defaultControllerRateLimiter = (): RateLimiter =>
  new MaxOfRateLimiter(new ExponentialFailureRateLimiter(5, 1_000_000), new TokenBucketRateLimiter(10, 100));
