// The control plane the tests run against is the real thing: each test asserts server behaviour a
// hand-written fake would not have.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/kube/rest.ts';
import { createNamespace, eventually, getNamespace, rest, unique } from '../harness/cluster.ts';

describe('the local control plane', () => {
  it('reports the pinned Kubernetes release on /version', async () => {
    const v = await (await rest()).get<{ gitVersion: string; major: string; minor: string }>('/version');
    expect(v.gitVersion).toBe('v1.37.2');
    expect(v.minor).toBe('37');
  });

  it('rejects an invalid NetworkPolicy (endPort below port) with the apiserver\'s own validation message', async () => {
    const ns = unique('cp-val');
    await createNamespace(ns);
    const bad = {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'bad', namespace: ns },
      spec: { podSelector: {}, ingress: [{ ports: [{ protocol: 'TCP', port: 8080, endPort: 80 }] }] },
    };
    const err = await (await rest()).create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, bad, 'tests').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).message).toMatch(/spec\.ingress\[0\]\.ports\[0\]\.endPort: Invalid value: 80: must be greater than or equal to `port`/);
    // and the valid twin is accepted, so the rejection is about endPort, not the request
    const good = structuredClone(bad);
    good.metadata.name = 'good';
    good.spec.ingress[0]!.ports[0]!.endPort = 9090;
    await expect((await rest()).create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, good, 'tests')).resolves.toMatchObject({ metadata: { name: 'good', namespace: ns } });
  });

  it('garbage-collects an object after its owner is deleted (kube-controller-manager runs)', async () => {
    const ns = unique('cp-gc');
    await createNamespace(ns);
    const r = await rest();
    const owner = await r.create<{ metadata: { uid: string } }>(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'owner' } }, 'tests');
    await r.create(`/api/v1/namespaces/${ns}/configmaps`, {
      apiVersion: 'v1', kind: 'ConfigMap',
      metadata: { name: 'dependent', ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid }] },
    }, 'tests');
    await r.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bystander' } }, 'tests');
    await r.delete(`/api/v1/namespaces/${ns}/configmaps/owner`);
    await eventually(async () => r.get(`/api/v1/namespaces/${ns}/configmaps/dependent`).then(() => false, (e: unknown) => e instanceof ApiError && e.status === 404), 'the dependent to be garbage-collected', 60_000);
    await expect(r.get(`/api/v1/namespaces/${ns}/configmaps/bystander`)).resolves.toMatchObject({ metadata: { name: 'bystander' } }); // not collected: it has no owner
  });

  it('finishes deleting a namespace that still holds objects', async () => {
    const ns = unique('cp-del');
    await createNamespace(ns);
    const r = await rest();
    await r.create(`/api/v1/namespaces/${ns}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'content' } }, 'tests');
    await r.delete(`/api/v1/namespaces/${ns}`);
    const during = await getNamespace(ns);
    expect(during?.status?.phase).toBe('Terminating');
    await eventually(async () => (await getNamespace(ns)) === undefined, 'the namespace to finish terminating', 60_000);
  });

  it('serves the TenantIsolation CRD and its schema rejects a bad object', async () => {
    const r = await rest();
    const name = unique('cp-crd');
    const path = `/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${name}`;
    const base = { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name } };
    const enumErr = await r.apply(path, { ...base, spec: { namespaces: ['a'], mode: 'Sometimes' } }, 'tests').catch((e: unknown) => e);
    expect((enumErr as ApiError).status).toBe(422);
    expect((enumErr as ApiError).message).toMatch(/spec\.mode.*Unsupported value: "Sometimes"/);
    const celErr = await r.apply(path, { ...base, spec: { namespaces: ['a'], allow: { ingressFrom: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 8080, endPort: 80 }] }] } } }, 'tests').catch((e: unknown) => e);
    expect((celErr as ApiError).status).toBe(422);
    expect((celErr as ApiError).message).toMatch(/endPort/);
    const ok = await r.apply<{ spec: { mode?: string; dns?: unknown; namespaces: string[]; allow: { egressTo: { ports: { protocol: string }[] }[] } } }>(path,
      { ...base, spec: { namespaceSelector: { matchLabels: { t: 'a' } }, allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 443 }] }] } } }, 'tests');
    // Structural defaults applied by the apiserver, except on the settings a tenant inherits from its
    // profile (absent means inherited: the operator fills the built-in defaults, src/policy/effective-spec.ts).
    expect(ok.spec.namespaces).toEqual([]);
    expect(ok.spec.allow.egressTo[0]!.ports[0]!.protocol).toBe('TCP');
    expect(ok.spec.mode).toBeUndefined();
    expect(ok.spec.dns).toBeUndefined();
    await r.delete(path);
  });
});
