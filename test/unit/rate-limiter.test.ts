import { describe, expect, it } from 'vitest';
import { ExponentialFailureRateLimiter, MaxOfRateLimiter, TokenBucketRateLimiter, type RateLimiter, defaultControllerRateLimiter } from '../../src/queue/rate-limiter.ts';

describe('ExponentialFailureRateLimiter', () => {
  it('doubles the delay per failure of a key: 5, 10, 20, 40 ms, counting failures', () => {
    const l = new ExponentialFailureRateLimiter(5, 1000);
    expect([l.when('k'), l.when('k'), l.when('k'), l.when('k')]).toEqual([5, 10, 20, 40]);
    expect(l.failures('k')).toBe(4);
  });

  it('caps the delay at max', () => {
    const l = new ExponentialFailureRateLimiter(5, 30);
    expect(Array.from({ length: 6 }, () => l.when('k'))).toEqual([5, 10, 20, 30, 30, 30]);
  });

  it('tracks keys independently', () => {
    const l = new ExponentialFailureRateLimiter(5, 1000);
    l.when('a'); l.when('a');
    expect(l.when('b')).toBe(5);
    expect(l.failures('a')).toBe(2);
    expect(l.failures('b')).toBe(1);
  });

  it('forget resets the key to the base delay and zero failures', () => {
    const l = new ExponentialFailureRateLimiter(5, 1000);
    l.when('k'); l.when('k'); l.when('k');
    l.forget('k');
    expect(l.failures('k')).toBe(0);
    expect(l.when('k')).toBe(5);
  });

  it('defaults to client-go values (5ms base, 1000s cap)', () => {
    const l = new ExponentialFailureRateLimiter();
    expect(l.when('k')).toBe(5);
    for (let i = 0; i < 40; i++) l.when('k');
    expect(l.when('k')).toBe(1_000_000);
  });
});

describe('TokenBucketRateLimiter', () => {
  it('lets a burst through at once, then spaces items 1/qps apart, refilling with time', () => {
    let now = 0;
    const l = new TokenBucketRateLimiter(10, 3, () => now);
    expect([l.when(), l.when(), l.when()]).toEqual([0, 0, 0]);
    expect(l.when()).toBeCloseTo(100, 6);
    expect(l.when()).toBeCloseTo(200, 6);
    now += 1000; // 10 tokens of refill, after a debt of 2: 3 available again but capped at burst
    expect(l.when()).toBe(0);
    expect(l.when()).toBe(0);
    expect(l.when()).toBe(0);
    expect(l.when()).toBeCloseTo(100, 6);
  });

  it('refills by elapsed time but never beyond the burst', () => {
    let now = 0;
    const l = new TokenBucketRateLimiter(10, 2, () => now);
    l.when(); l.when();
    now += 100_000;
    expect([l.when(), l.when()]).toEqual([0, 0]);
    expect(l.when()).toBeGreaterThan(0);
  });

  it('is not per key: it counts no failures and forget does nothing', () => {
    const l = new TokenBucketRateLimiter(1, 1, () => 0);
    l.when();
    l.forget();
    expect(l.when()).toBeCloseTo(1000, 6);
    expect(l.failures()).toBe(0);
  });
});

describe('MaxOfRateLimiter', () => {
  const fixed = (ms: number, fails: number): RateLimiter => ({ when: () => ms, forget: () => undefined, failures: () => fails });

  it('waits for the slowest limiter and reports the largest failure count', () => {
    const l = new MaxOfRateLimiter(fixed(5, 1), fixed(50, 0), fixed(20, 3));
    expect(l.when('k')).toBe(50);
    expect(l.failures('k')).toBe(3);
  });

  it('asks and forgets every limiter', () => {
    const exp = new ExponentialFailureRateLimiter(5, 1000);
    const bucket = new TokenBucketRateLimiter(10, 100, () => 0);
    const l = new MaxOfRateLimiter(exp, bucket);
    expect([l.when('k'), l.when('k'), l.when('k')]).toEqual([5, 10, 20]);
    expect(l.failures('k')).toBe(3);
    l.forget('k');
    expect(l.failures('k')).toBe(0);
    expect(l.when('k')).toBe(5);
  });

  it('the default controller limiter backs one failing key off exponentially', () => {
    const l = defaultControllerRateLimiter();
    expect([l.when('k'), l.when('k'), l.when('k')]).toEqual([5, 10, 20]);
    expect(l.when('other')).toBe(5);
  });
});

describe('TokenBucketRateLimiter and the clock', () => {
  it('a clock stepping back leaves no debt: the next request waits no longer than the bucket says', () => {
    let now = 1_000_000;
    const l = new TokenBucketRateLimiter(10, 2, () => now);
    expect(l.when()).toBe(0);
    now -= 3_600_000; // an hour back
    expect(l.when()).toBe(0); // the second token of the burst
    expect(l.when()).toBe(100); // then 10 per second, not an hour's debt
  });
});
