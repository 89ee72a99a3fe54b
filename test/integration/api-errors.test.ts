// The apiserver's own answers, classified by the typed errors: what each helper relies on is checked
// against the real thing, including the Status causes the old message regexes guessed at.
import { describe, expect, it } from 'vitest';
import { ApiError, isAlreadyExists, isConflict, isForbidden, isInvalid, isNamespaceTerminating, isNotFound } from '../../src/kube/rest.ts';
import { createNamespace, eventually, getNamespace, rest, unique } from '../harness/cluster.ts';

const CM = (ns: string, name = ''): string => `/api/v1/namespaces/${ns}/configmaps${name ? `/${name}` : ''}`;
const cm = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...extra } });
const failure = (p: Promise<unknown>): Promise<ApiError> => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as ApiError);

describe('typed errors from the real apiserver', () => {
  it('NotFound, AlreadyExists and Conflict are told apart by reason, with the object in details', async () => {
    const r = await rest();
    const ns = unique('errs');
    await createNamespace(ns);
    const missing = await failure(r.get(CM(ns, 'missing')));
    expect(missing).toMatchObject({ status: 404, reason: 'NotFound', details: { name: 'missing', kind: 'configmaps' } });
    expect(isNotFound(missing)).toBe(true);

    const created = await r.create<{ metadata: { resourceVersion: string } }>(CM(ns), cm('x'), 'tests');
    const again = await failure(r.create(CM(ns), cm('x'), 'tests'));
    expect(again).toMatchObject({ status: 409, reason: 'AlreadyExists' });
    expect(isAlreadyExists(again)).toBe(true);
    expect(isConflict(again)).toBe(false);

    await r.mergePatch(CM(ns, 'x'), { data: { a: 'b' } }, 'tests');
    const stale = await failure(r.update(CM(ns, 'x'), cm('x', { resourceVersion: created.metadata.resourceVersion }), 'tests'));
    expect(stale).toMatchObject({ status: 409, reason: 'Conflict' });
    expect(isConflict(stale)).toBe(true);
    expect(isAlreadyExists(stale)).toBe(false);
    // A delete whose precondition fails is a Conflict too (the namespace reconciler relies on it).
    const precondition = await failure(r.delete(CM(ns, 'x'), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: created.metadata.resourceVersion } }));
    expect(isConflict(precondition)).toBe(true);
  });

  it('Invalid keeps the field causes', async () => {
    const r = await rest();
    const ns = unique('errs-inv');
    await createNamespace(ns);
    const bad = await failure(r.create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad' }, spec: { podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] },
    }, 'tests'));
    expect(isInvalid(bad)).toBe(true);
    expect(bad.causes.map((c) => c.field)).toContain('spec.ingress[0].ports[0].port');
  });

  it('a create in a namespace being deleted carries the NamespaceTerminating cause', async () => {
    const r = await rest();
    const ns = unique('errs-term');
    await createNamespace(ns);
    // A finalizer holds the namespace in Terminating for as long as the test needs.
    await r.create(CM(ns), cm('held', { finalizers: ['tests.tenancy.dev/hold'] }), 'tests');
    await r.delete(`/api/v1/namespaces/${ns}`);
    await eventually(async () => (await getNamespace(ns))?.status?.phase === 'Terminating', `${ns} Terminating`);
    try {
      const refused = await failure(r.create(CM(ns), cm('late'), 'tests'));
      expect(refused).toMatchObject({ status: 403, reason: 'Forbidden' });
      expect(isNamespaceTerminating(refused)).toBe(true);
      expect(isForbidden(refused)).toBe(true);
    } finally {
      await r.mergePatch(CM(ns, 'held'), { metadata: { finalizers: null } }, 'tests');
    }
  });
});
