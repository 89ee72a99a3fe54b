// A child logger made only when something is logged. pino's child() serializes its bindings at once
// (tens of microseconds), and every reconcile gets one (its reconcileID and key, then the namespace), while
// at the default level almost no reconcile logs a line: in a burst that was most of what logging cost.
import type { Level, Logger } from 'pino';

const LEVELS: ReadonlySet<string> = new Set<Level>(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const noop = (): void => {};

/**
 * `parent.child(bindings)`, built on first use. A log call at a disabled level builds nothing; `child`
 * stays lazy (its bindings added to these).
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let real: Logger | undefined;
  const made = (): Logger => (real ??= parent.child(bindings));
  const proxy: Logger = new Proxy(parent, {
    get(_target, prop) {
      if (typeof prop === 'string' && LEVELS.has(prop) && real === undefined && !parent.isLevelEnabled(prop)) return noop;
      if (prop === 'child' && real === undefined) return (more: Record<string, unknown>) => lazyChild(parent, { ...bindings, ...more });
      const r = made();
      const v: unknown = Reflect.get(r, prop, r);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(r) : v;
    },
  });
  return proxy;
}
