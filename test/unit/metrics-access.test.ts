// Who may read /metrics (src/metrics/auth.ts) with a fake apiserver: reviews are cached, and those the
// cache cannot answer are capped in flight, so a client sending a new token with every request gets 429s
// instead of a stream of TokenReviews on the operator's behalf. The real apiserver's answers are tested in
// test/integration/metrics-auth.test.ts.
import { describe, expect, it } from 'vitest';
import { DelegatedAccess } from '../../src/metrics/auth.ts';

/** Answers TokenReviews (every token is user `u-<token>`) and SubjectAccessReviews (allowed for /metrics only), when released. */
function fakeApiserver() {
  const waiting: (() => void)[] = [];
  const sent: string[] = [];
  let hold = true;
  const rest = {
    request: <T>(_method: string, path: string, o: { body: { spec: { token?: string; nonResourceAttributes?: { path: string } } } }): Promise<T> => {
      sent.push(path.split('/').pop()!);
      // Tokens starting with 'bad' are not authenticated.
      const answer = (): T => (path.endsWith('tokenreviews')
        ? (o.body.spec.token?.startsWith('bad') ? { status: { authenticated: false } } : { status: { authenticated: true, user: { username: `u-${o.body.spec.token}` } } })
        : { status: { allowed: o.body.spec.nonResourceAttributes?.path === '/metrics' } }) as T;
      if (!hold) return Promise.resolve(answer());
      return new Promise<T>((r) => { waiting.push(() => r(answer())); });
    },
  };
  return { rest, sent, release: () => { hold = false; for (const w of waiting.splice(0)) w(); }, holdAgain: () => { hold = true; } };
}

describe('DelegatedAccess', () => {
  it('caps reviews in flight: a request needing one more is refused with 429, and nothing is sent for it', async () => {
    const api = fakeApiserver();
    const access = new DelegatedAccess(api.rest, { maxReviewsInFlight: 2 });
    const first = access.check('Bearer a', 'GET', '/metrics');
    const second = access.check('Bearer b', 'GET', '/metrics');
    expect(await access.check('Bearer c', 'GET', '/metrics')).toMatchObject({ allowed: false, status: 429 });
    expect(api.sent).toEqual(['tokenreviews', 'tokenreviews']);
    api.release();
    expect(await first).toEqual({ allowed: true, user: 'u-a' });
    expect(await second).toEqual({ allowed: true, user: 'u-b' });
    // The refusal was not cached: the same token is reviewed once there is room.
    expect(await access.check('Bearer c', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-c' });
  });

  it('a cached answer needs no review, so it is served while the cap is reached', async () => {
    const api = fakeApiserver();
    const access = new DelegatedAccess(api.rest, { maxReviewsInFlight: 1 });
    api.release();
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    api.holdAgain();
    const stranger = access.check('Bearer stranger', 'GET', '/metrics'); // takes the one review slot
    const sent = api.sent.length;
    expect(await access.check('Bearer other', 'GET', '/metrics')).toMatchObject({ allowed: false, status: 429 });
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    expect(api.sent.length).toBe(sent);
    api.release();
    expect(await stranger).toEqual({ allowed: true, user: 'u-stranger' });
    expect(await access.check(undefined, 'GET', '/metrics')).toMatchObject({ allowed: false, status: 401 });
  });

  it('refused tokens are cached apart: a stream of them never evicts a scraper', async () => {
    const api = fakeApiserver();
    api.release();
    const access = new DelegatedAccess(api.rest, { maxEntries: 2 });
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    for (let i = 0; i < 5; i++) expect(await access.check(`Bearer bad-${i}`, 'GET', '/metrics')).toMatchObject({ allowed: false, status: 401 });
    const sent = api.sent.length;
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    expect(api.sent.length).toBe(sent); // still cached: no review
    expect(await access.check('Bearer bad-4', 'GET', '/metrics')).toMatchObject({ status: 401 });
    expect(api.sent.length).toBe(sent); // a refused one is cached too
    // Concurrent new tokens, refused or turned away as busy (429), do not evict it either.
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => access.check(`Bearer bad-x${i}`, 'GET', '/metrics')));
    expect(burst.filter((d) => !d.allowed && d.status === 429).length).toBeGreaterThan(0);
    const after = api.sent.length;
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    expect(api.sent.length).toBe(after);
  });

  it('a scraper whose token expired is reviewed again even while new tokens hold every review slot', async () => {
    const api = fakeApiserver();
    let now = 0;
    const access = new DelegatedAccess(api.rest, { maxReviewsInFlight: 1, now: () => now });
    api.release();
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    api.holdAgain();
    const stranger = access.check('Bearer stranger', 'GET', '/metrics'); // the one slot for new tokens
    expect(await access.check('Bearer other', 'GET', '/metrics')).toMatchObject({ status: 429 });
    now += 61_000; // past the token's minute; its allow (5 min) still holds
    const renewed = access.check('Bearer scraper', 'GET', '/metrics');
    api.release();
    expect(await renewed).toEqual({ allowed: true, user: 'u-scraper' });
    expect(await stranger).toEqual({ allowed: true, user: 'u-stranger' });
  });

  it('denials are cached apart: a client asking for paths it may not read never evicts a scraper\'s allow', async () => {
    const api = fakeApiserver();
    api.release();
    const access = new DelegatedAccess(api.rest, { maxEntries: 2 });
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    for (let i = 0; i < 5; i++) expect(await access.check('Bearer scraper', 'GET', `/a${i}`)).toMatchObject({ allowed: false, status: 403 });
    const sent = api.sent.length;
    expect(await access.check('Bearer scraper', 'GET', '/metrics')).toEqual({ allowed: true, user: 'u-scraper' });
    expect(api.sent.length).toBe(sent);
  });
});
