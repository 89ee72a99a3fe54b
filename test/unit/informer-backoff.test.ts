// The informer against a fake apiserver that keeps refusing it: its backoff (the waits it logs, read as
// they come: a barrier on the log lines, no fixed sleep) and a continue token that expires mid-list.
// Watches against the real apiserver, faults included, are tested in test/integration/informer.test.ts
// and watch-faults.test.ts.
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ResilientInformer } from '../../src/kube/informer.ts';
import { statusError } from '../../src/kube/api-errors.ts';
import type { RestClient } from '../../src/kube/rest.ts';

/** An informer whose every watch fails with `fail()`; resolves the delays it logged once it has `n`. */
async function delaysOf(fail: () => Error, n: number): Promise<{ delays: number[]; lists: number }> {
  let lists = 0;
  const rest = {
    watchSilenceLimitMs: undefined,
    get: () => { lists++; return Promise.resolve({ items: [], metadata: { resourceVersion: '10' } }); },
    watch: () => Promise.reject(fail()),
  } as unknown as RestClient;
  const delays: number[] = [];
  let done: () => void = () => undefined;
  const enough = new Promise<void>((r) => { done = r; });
  const log = pino({ level: 'warn' }, { write: (line: string) => {
    const l = JSON.parse(line) as { msg: string; delayMs?: number };
    if (l.msg === 'watch failed; restarting informer' && l.delayMs !== undefined && delays.push(l.delayMs) >= n) done();
  } });
  const inf = new ResilientInformer(rest, '/api/v1/things', {}, log);
  await inf.start();
  await enough;
  await inf.stop();
  return { delays, lists };
}

describe('informer backoff', () => {
  it('a watch that keeps answering 410 Gone backs off exponentially: relisting does not reset the backoff', async () => {
    const gone = () => statusError('WATCH /api/v1/things', 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }, '');
    const { delays, lists } = await delaysOf(gone, 4);
    // 0.5-1.5 x 250 ms x 2^n: the fourth wait is at least 1 s (it stayed at 125-375 ms when every relist reset it).
    expect(delays[3]).toBeGreaterThanOrEqual(1000);
    expect(lists).toBeGreaterThanOrEqual(4); // each failure still relists, as a 410 asks
  }, 20_000);

  it('a Retry-After longer than the REST client honours is capped at 30 s', async () => {
    const slowDown = () => statusError('WATCH /api/v1/things', 429, { kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'slow down' }, '', 600);
    const { delays } = await delaysOf(slowDown, 1);
    expect(delays[0]).toBe(30_000);
  }, 20_000);

  it('a continue token that expires mid-list is followed by one list in one piece, not a paged list again', async () => {
    const gets: { limit?: unknown; continue?: unknown }[] = [];
    const item = (name: string) => ({ metadata: { name, resourceVersion: '5' } });
    const rest = {
      watchSilenceLimitMs: undefined,
      get: (_path: string, q: { limit?: number; continue?: string }) => {
        gets.push({ limit: q.limit, continue: q.continue });
        if (q.continue) return Promise.reject(statusError('GET /api/v1/things', 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'The provided continue parameter is too old' }, ''));
        if (q.limit !== undefined) return Promise.resolve({ items: [item('a')], metadata: { resourceVersion: '10', continue: 'page-2' } });
        return Promise.resolve({ items: [item('a'), item('b')], metadata: { resourceVersion: '11' } });
      },
      watch: (_p: string, _q: unknown, _on: unknown, signal: AbortSignal) => new Promise<void>((r) => signal.addEventListener('abort', () => r())),
    } as unknown as RestClient;
    const inf = new ResilientInformer<{ metadata: { name: string } }>(rest, '/api/v1/things', {}, pino({ level: 'silent' }), { pageSize: 1 });
    await inf.start();
    await inf.waitForSync();
    expect(gets).toEqual([{ limit: 1, continue: undefined }, { limit: 1, continue: 'page-2' }, { limit: undefined, continue: undefined }]);
    expect(inf.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'b']);
    await inf.stop();
  });
});
