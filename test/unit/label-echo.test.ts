import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { NamespaceReconciler, type NamespaceReconcilerDeps } from '../../src/controller/namespace-reconciler.ts';
import type { NamespaceObject } from '../../src/policy/types.ts';

const log = pino({ level: 'silent' });
const ns = (rv: string): NamespaceObject => ({ metadata: { name: 'a', resourceVersion: rv, labels: { x: '1' } } });

/** A reconciler whose one label write is stored at resourceVersion 10. */
async function afterLabelWrite(): Promise<NamespaceReconciler> {
  const rest = { mergePatch: () => Promise.resolve({ metadata: { name: 'a', resourceVersion: '10', labels: { x: '1', member: 't' } } }) };
  const r = new NamespaceReconciler({ rest, managed: { tenantOfUid: () => undefined } } as unknown as NamespaceReconcilerDeps);
  await (r as unknown as { patchLabels(n: string, l: Record<string, string>, log: unknown): Promise<void> }).patchLabels('a', { member: 't' }, log);
  return r;
}

describe('NamespaceReconciler: its own label writes', () => {
  it('are remembered until the cache shows them, then forgotten at the echo', async () => {
    const r = await afterLabelWrite();
    expect(r.rememberedLabelWrites).toBe(1);
    expect(r.isOwnLabelEcho(ns('9'))).toBe(false); // the cache is still behind our write
    expect(r.rememberedLabelWrites).toBe(1);
    expect(r.isOwnLabelEcho(ns('10'))).toBe(true);
    expect(r.rememberedLabelWrites).toBe(0);
    expect(r.isOwnLabelEcho(ns('10'))).toBe(false); // told once
  });

  it('are forgotten when the cache shows something newer (not an echo)', async () => {
    const r = await afterLabelWrite();
    expect(r.isOwnLabelEcho(ns('11'))).toBe(false);
    expect(r.rememberedLabelWrites).toBe(0);
  });
});
