import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { lazyChild } from '../../src/runtime/lazy-logger.ts';

function capture(level = 'info'): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = pino({ level, base: undefined }, new Writable({ write(c, _e, cb) { out.push(String(c)); cb(); } }));
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('lazyChild', () => {
  it('makes no pino child while nothing is logged, a disabled level included', () => {
    const { log, lines } = capture('info');
    const spy = vi.spyOn(log, 'child');
    const c = lazyChild(log, { reconcileID: 'r1', key: 'k' });
    c.debug({ x: 1 }, 'hidden');
    c.trace('hidden too');
    const nested = c.child({ namespace: 'ns-a' });
    nested.debug('still hidden');
    expect(spy).not.toHaveBeenCalled();
    expect(lines()).toEqual([]);
  });

  it('logs with every binding, nested children included, once something is logged', () => {
    const { log, lines } = capture('info');
    const c = lazyChild(log, { reconcileID: 'r1', key: 'k' });
    const nested = c.child({ namespace: 'ns-a' });
    c.info({ a: 1 }, 'first');
    nested.warn('second');
    c.error('third');
    expect(lines().map(({ level, msg, reconcileID, key, namespace, a }) => ({ level, msg, reconcileID, key, namespace, a }))).toEqual([
      { level: 30, msg: 'first', reconcileID: 'r1', key: 'k', namespace: undefined, a: 1 },
      { level: 40, msg: 'second', reconcileID: 'r1', key: 'k', namespace: 'ns-a', a: undefined },
      { level: 50, msg: 'third', reconcileID: 'r1', key: 'k', namespace: undefined, a: undefined },
    ]);
  });

  it('logs debug lines when the level enables them, and answers what pino answers', () => {
    const { log, lines } = capture('debug');
    const c = lazyChild(log, { key: 'k' });
    expect(c.isLevelEnabled('debug')).toBe(true);
    expect(c.level).toBe('debug');
    c.debug('shown');
    expect(lines()).toMatchObject([{ level: 20, msg: 'shown', key: 'k' }]);
  });
});
