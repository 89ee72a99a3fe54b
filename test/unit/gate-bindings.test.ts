// When a tenant's Gated condition may say its pods wait for isolation: a binding the operator just saw
// written is in force only after the apiserver's policy refresh; one stored long before (found at a
// restart) is in force already, so a restart reports nothing new.
import { describe, expect, it } from 'vitest';
import { MEMBER_LABEL_GUARD, POD_GATE, compactBinding, covers, gateBindings, type AdmissionBinding, type CachedBinding, type TenantClaims } from '../../src/admission/policies.ts';
import type { CachedAdmissionPolicy } from '../../src/controller/caches.ts';
import { GATE_EFFECTIVE_AFTER_MS, GateBindings } from '../../src/controller/gate-bindings.ts';
import type { ResilientInformer } from '../../src/kube/informer.ts';
import type { RestClient } from '../../src/kube/rest.ts';

const acme: TenantClaims = { name: 'acme', mode: 'Enforce', defaultDeny: true, namespaceSelector: { matchLabels: { tenant: 'acme' } }, namespaces: [] };

/**
 * The gate over the bindings the operator would write for acme, each last written at `writtenAt`
 * (managedFields time), with the member-label guard's policy and binding unless `without` names one.
 */
function gateWith(writtenAt: Date | undefined, without?: 'guard policy' | 'guard binding'): GateBindings {
  const stored = new Map<string, CachedBinding>(gateBindings([acme], [], new Map([[POD_GATE, 'uid-gate']])).map((b): [string, CachedBinding] => {
    const raw: AdmissionBinding = { ...b, metadata: { ...b.metadata, ...(writtenAt ? { managedFields: [{ time: writtenAt.toISOString().replace(/\.\d+Z$/, 'Z') }] } : {}) } };
    return [b.metadata.name, compactBinding(raw)];
  }));
  expect(stored.size).toBeGreaterThan(0);
  if (without !== 'guard binding') stored.set(MEMBER_LABEL_GUARD, { metadata: { name: MEMBER_LABEL_GUARD }, digest: '', selector: undefined });
  const installed = new Set([POD_GATE, ...(without === 'guard policy' ? [] : [MEMBER_LABEL_GUARD])]);
  const bindings = { get: (n: string) => stored.get(n), list: () => [...stored.values()] } as unknown as ResilientInformer<AdmissionBinding, CachedBinding>;
  const policies = { get: (n: string) => (installed.has(n) ? { metadata: { name: n, uid: `uid-${n}` } } : undefined) } as unknown as ResilientInformer<CachedAdmissionPolicy>;
  return new GateBindings({} as RestClient, bindings, policies, () => [acme], []);
}

describe('GateBindings.factsFor', () => {
  it('a binding stored long before the operator saw it gates the tenant at once', () => {
    expect(gateWith(new Date(Date.now() - 60_000)).factsFor(acme)).toEqual({ policy: POD_GATE, installed: true, bound: true });
  });

  it('a binding just written gates the tenant only once the apiserver can have loaded it', () => {
    const facts = gateWith(new Date()).factsFor(acme);
    expect(facts.bound).toBe(false);
    expect(facts.retryAfterMs).toBeGreaterThan(GATE_EFFECTIVE_AFTER_MS - 100);
    expect(facts.retryAfterMs).toBeLessThanOrEqual(GATE_EFFECTIVE_AFTER_MS);
  });

  it('the pod gate is not installed while the member-label guard is missing: anyone could set the label it trusts', () => {
    const old = new Date(Date.now() - 60_000);
    expect(gateWith(old, 'guard policy').factsFor(acme)).toMatchObject({ installed: false });
    expect(gateWith(old, 'guard binding').factsFor(acme)).toMatchObject({ installed: false });
  });

  it('a binding that does not say when it was written counts from when the operator saw it', () => {
    const gate = gateWith(undefined);
    expect(gate.factsFor(acme)).toMatchObject({ bound: false });
    expect(gate.factsFor(acme).retryAfterMs).toBeGreaterThan(0);
  });
});

describe('GateBindings.sync', () => {
  it('writes a binding once, waits for it to be seen, and writes it again when someone deletes it afterwards', async () => {
    const stored = new Map<string, CachedBinding>();
    const applied: string[] = [];
    // The apiserver answers a write with the object stored, at a new resourceVersion.
    const answers = new Map<string, AdmissionBinding>();
    let rv = 100;
    const rest = { apply: (path: string, body: AdmissionBinding) => {
      const name = path.slice(path.lastIndexOf('/') + 1);
      applied.push(name);
      const out = { ...body, metadata: { ...body.metadata, resourceVersion: String(++rv) } };
      answers.set(name, out);
      return Promise.resolve(out);
    }, delete: () => Promise.resolve({}) } as unknown as RestClient;
    const bindings = { get: (n: string) => stored.get(n), list: () => [...stored.values()] } as unknown as ResilientInformer<AdmissionBinding, CachedBinding>;
    const policies = { get: (n: string) => (n === POD_GATE ? { metadata: { name: n, uid: 'uid-gate' } } : undefined) } as unknown as ResilientInformer<CachedAdmissionPolicy>;
    const gate = new GateBindings(rest, bindings, policies, () => [acme], []);
    const log = { info: () => undefined } as unknown as Parameters<GateBindings['sync']>[0];
    const wanted = gateBindings([acme], [], new Map([[POD_GATE, 'uid-gate']]));
    expect(wanted.length).toBeGreaterThan(0);

    await gate.sync(log);
    expect(applied.sort()).toEqual(wanted.map((b) => b.metadata.name).sort());
    await gate.sync(log); // not seen back yet: not written twice
    expect(applied).toHaveLength(wanted.length);
    for (const b of wanted) stored.set(b.metadata.name, compactBinding(answers.get(b.metadata.name)!)); // the informer delivers them
    await gate.sync(log);
    expect(applied).toHaveLength(wanted.length);
    stored.delete(wanted[0]!.metadata.name); // someone deletes one
    await gate.sync(log);
    expect(applied).toHaveLength(wanted.length + 1);
    expect(applied.at(-1)).toBe(wanted[0]!.metadata.name);
  });
});

describe('a tenant moving between bindings', () => {
  const globex: TenantClaims = { ...acme, name: 'globex', namespaceSelector: { matchLabels: { tenant: 'globex' } } };
  const prodAcme: TenantClaims = { ...acme, namespaceSelector: { matchLabels: { tenant: 'acme', env: 'prod' } } };

  it('is written into its new binding before it is taken out of the shared one', async () => {
    const before = gateBindings([acme, globex], [], new Map());
    expect(before.map((b) => b.metadata.name)).toHaveLength(1); // acme and globex share the tenant key's binding
    const stored = new Map(before.map((b): [string, CachedBinding] => [b.metadata.name, compactBinding(b)]));
    const applied: string[] = [];
    const rest = { apply: (path: string, body: AdmissionBinding) => {
      applied.push(path.slice(path.lastIndexOf('/') + 1));
      return Promise.resolve({ ...body, metadata: { ...body.metadata, resourceVersion: '2' } });
    }, delete: () => Promise.resolve({}) } as unknown as RestClient;
    const bindings = { get: (n: string) => stored.get(n), list: () => [...stored.values()] } as unknown as ResilientInformer<AdmissionBinding, CachedBinding>;
    const policies = { get: () => undefined } as unknown as ResilientInformer<CachedAdmissionPolicy>;
    const gate = new GateBindings(rest, bindings, policies, () => [prodAcme, globex], []);
    await gate.sync({ info: () => undefined } as unknown as Parameters<GateBindings['sync']>[0]);
    const shared = before[0]!.metadata.name;
    expect(applied).toEqual([`${POD_GATE}.tenant.acme`, shared]);
  });
});

describe('covers, for a tenant selecting by expressions', () => {
  const data: TenantClaims = { ...acme, name: 'data', namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['x'] }, { key: 'tier', operator: 'Exists' }] } };
  const stored = (t: TenantClaims, reserved: string[] = []) => {
    const b = gateBindings([t], reserved, new Map())[0]!;
    // The apiserver leaves out an empty values list.
    return JSON.parse(JSON.stringify(b.spec.matchResources.namespaceSelector).replace(/,"values":\[\]/g, '')) as AdmissionBinding['spec']['matchResources']['namespaceSelector'];
  };
  const name = `${POD_GATE}.tenant.data`;

  it('is true for the binding written from the same selector, with or without the reserved-name exclusion', () => {
    expect(covers(name, stored(data), data)).toBe(true);
    expect(covers(name, stored(data, ['ops']), data)).toBe(true);
  });

  it('is false once the expressions changed and the binding does not say so yet', () => {
    const edited: TenantClaims = { ...data, namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: ['x', 'y'] }, { key: 'tier', operator: 'Exists' }] } };
    expect(covers(name, stored(data), edited)).toBe(false);
    expect(covers(name, stored(edited), edited)).toBe(true);
  });
});

describe('a tenant naming a reserved namespace', () => {
  // --reserved-namespaces (or the release namespace) is not refused by the CRD; gateBindings leaves it out.
  const named: TenantClaims = { ...acme, namespaceSelector: undefined, namespaces: ['ops', 'web'] };
  const onlyReserved: TenantClaims = { ...named, name: 'ops-only', namespaces: ['ops'] };

  it('is gated once the names binding lists the others: the reserved one is never listed', () => {
    const stored = new Map(gateBindings([named], ['ops'], new Map()).map((b): [string, CachedBinding] => [b.metadata.name, compactBinding(b)]));
    expect([...stored.values()][0]?.selector?.matchExpressions?.[0]?.values).toEqual(['web']);
    stored.set(MEMBER_LABEL_GUARD, { metadata: { name: MEMBER_LABEL_GUARD }, digest: '', selector: undefined });
    const bindings = { get: (n: string) => stored.get(n), list: () => [...stored.values()] } as unknown as ResilientInformer<AdmissionBinding, CachedBinding>;
    const policies = { get: (n: string) => ({ metadata: { name: n, uid: `uid-${n}` } }) } as unknown as ResilientInformer<CachedAdmissionPolicy>;
    const gate = new GateBindings({} as RestClient, bindings, policies, () => [named, onlyReserved], ['ops']);
    const facts = gate.factsFor(named);
    expect(facts.installed && (facts.bound || facts.retryAfterMs !== undefined)).toBe(true);
    // Naming only reserved namespaces: nothing to bind, nothing missing.
    expect(gate.factsFor(onlyReserved)).toMatchObject({ installed: true, bound: true });
  });
});
