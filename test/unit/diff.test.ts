import { describe, expect, it } from 'vitest';
import { planNamespace, type NamespacePlan } from '../../src/policy/desired.ts';
import { canonicalJson, compactPolicy, ownedDigest, policyDrift as driftOfCached } from '../../src/policy/diff.ts';
import { ANNOTATION_CONFLICT, LABEL_BASELINE } from '../../src/policy/labels.ts';
import type { NetworkPolicy } from '../../src/policy/types.ts';
import { tenant } from './fixtures.ts';

const acme = tenant('acme', {
  namespaceSelector: { matchLabels: { tenant: 'acme' } },
  allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' }, ports: [{ port: 443 }] }] },
});
const planned = (p: NamespacePlan): NetworkPolicy[] => (p.kind === 'unclaimed' ? [] : p.policies);
const desiredAll = planned(planNamespace('a1', [acme], () => ['a1', 'a2']));
const desired = (name: string): NetworkPolicy => {
  const p = desiredAll.find((x) => x.metadata.name === name);
  if (!p) throw new Error(`no ${name}`);
  return p;
};
const DENY = 'tenant-isolation-default-deny';
const EXTRA = 'tenant-isolation-allow-extra';
const INTRA = 'tenant-isolation-allow-intra-tenant';

/** Drift against a stored policy as the operator sees it: through the cache's compact form (its digest). */
const policyDrift = (d: NetworkPolicy, e: NetworkPolicy | undefined): string | undefined => driftOfCached(d, e && compactPolicy(e));

/** What the apiserver hands back: our object plus server-set metadata. */
const stored = (p: NetworkPolicy): NetworkPolicy => {
  const c = structuredClone(p);
  c.metadata.resourceVersion = '42';
  c.metadata.uid = 'server-uid';
  c.metadata.generation = 1;
  c.metadata.creationTimestamp = '2025-01-01T00:00:00Z';
  c.metadata.managedFields = [{ manager: 'tenant-isolation-operator' }];
  return c;
};

describe('policyDrift: no write needed', () => {
  it('for the identical policy, as stored by the apiserver with its own metadata', () => {
    for (const p of desiredAll) expect(policyDrift(p, stored(p)), p.metadata.name).toBeUndefined();
  });

  it('when the apiserver omitted empty lists and empty matchLabels', () => {
    const e = stored(desired(DENY));
    e.spec.podSelector = { matchLabels: {} };
    expect(policyDrift(desired(DENY), e)).toBeUndefined();
    const d = structuredClone(desired(DENY));
    d.spec.podSelector = { matchLabels: {}, matchExpressions: [] };
    d.spec.ingress = [];
    expect(policyDrift(d, stored(desired(DENY)))).toBeUndefined();
  });

  it('when keys come in a different order', () => {
    const d = desired(EXTRA);
    const e = stored(d);
    e.spec = { egress: e.spec.egress, policyTypes: e.spec.policyTypes, podSelector: e.spec.podSelector };
    e.spec.egress = e.spec.egress!.map((r) => ({ ports: r.ports, to: r.to }));
    e.metadata.ownerReferences = e.metadata.ownerReferences!.map((o) => ({ uid: o.uid, name: o.name, kind: o.kind, controller: o.controller, blockOwnerDeletion: o.blockOwnerDeletion, apiVersion: o.apiVersion }));
    expect(JSON.stringify(e.spec)).not.toBe(JSON.stringify(d.spec));
    expect(policyDrift(d, e)).toBeUndefined();
  });

  it('when someone added their own labels and annotations next to ours', () => {
    const e = stored(desired(DENY));
    e.metadata.labels = { ...e.metadata.labels, extra: 'x' };
    e.metadata.annotations = { note: 'hi' };
    expect(policyDrift(desired(DENY), e)).toBeUndefined();
  });
});

describe('policyDrift: a write is needed (missing, or content that hashes differently)', () => {
  it('when the policy does not exist', () => {
    expect(policyDrift(desired(DENY), undefined)).toBe('missing');
  });

  it('when the spec changed', () => {
    const e = stored(desired(INTRA));
    e.spec.ingress![0]!.from![0]!.namespaceSelector!.matchExpressions![0]!.values = ['a1'];
    expect(policyDrift(desired(INTRA), e)).toBe('content');
    const f = stored(desired(DENY));
    f.spec.policyTypes = ['Ingress'];
    expect(policyDrift(desired(DENY), f)).toBe('content');
    const g = stored(desired(EXTRA));
    g.spec.egress![0]!.ports = [];
    expect(policyDrift(desired(EXTRA), g)).toBe('content');
  });

  it('when a managed label is missing or names another tenant', () => {
    const e = stored(desired(DENY));
    delete e.metadata.labels!['app.kubernetes.io/managed-by'];
    expect(policyDrift(desired(DENY), e)).toBe('content');
    const f = stored(desired(DENY));
    f.metadata.labels!['isolation.tenancy.dev/tenant'] = 'globex';
    expect(policyDrift(desired(DENY), f)).toBe('content');
    const g = stored(desired(DENY));
    delete g.metadata.labels;
    expect(policyDrift(desired(DENY), g)).toBe('content');
  });

  it('when an owner reference was added, removed or changed', () => {
    const e = stored(desired(DENY));
    e.metadata.ownerReferences!.push({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u' });
    expect(policyDrift(desired(DENY), e)).toBe('content');
    const f = stored(desired(DENY));
    f.metadata.ownerReferences = [];
    expect(policyDrift(desired(DENY), f)).toBe('content');
    const g = stored(desired(DENY));
    g.metadata.ownerReferences![0]!.controller = false;
    expect(policyDrift(desired(DENY), g)).toBe('content');
  });

  it('when the conflict annotation is missing, extra or lists other tenants', () => {
    const a = tenant('a', { namespaces: ['shared'] });
    const b = tenant('b', { namespaces: ['shared'] });
    const conflict = planned(planNamespace('shared', [a, b], () => []))[0]!;
    const e = stored(conflict);
    delete e.metadata.annotations;
    expect(policyDrift(conflict, e)).toBe('content');
    const f = stored(conflict);
    f.metadata.annotations!['isolation.tenancy.dev/conflicting-tenants'] = 'a';
    expect(policyDrift(conflict, f)).toBe('content');
    expect(policyDrift(conflict, stored(conflict))).toBeUndefined();
    // A member deny that still carries a stale conflict annotation must be rewritten.
    const g = stored(desired(DENY));
    g.metadata.annotations = { 'isolation.tenancy.dev/conflicting-tenants': 'acme,globex' };
    expect(policyDrift(desired(DENY), g)).toBe('content');
  });
});

/** The canonical form as a sorted copy, the way canonicalJson's text must read: the reference it is checked against. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => canonical(v));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v) && v.length === 0) continue;
      if (k === 'matchLabels' && typeof v === 'object' && Object.keys(v).length === 0) continue;
      out[k] = canonical(v);
    }
    return out;
  }
  return value;
}

describe('ownedDigest (remembers the digests of recent content)', () => {
  it('gives equal content the same digest in any key order, and tells apart every owned field, seen or not', () => {
    const deny = stored(desired(DENY));
    const d0 = ownedDigest(deny);
    expect(ownedDigest(structuredClone(deny))).toBe(d0);
    // The same content with keys in another order: another text, the same digest.
    const reordered = { spec: deny.spec, metadata: Object.fromEntries(Object.entries(deny.metadata).reverse()) } as NetworkPolicy;
    expect(ownedDigest(reordered)).toBe(d0);
    // Each owned field changes the digest, right after the unchanged policy was digested.
    const variants: ((p: NetworkPolicy) => void)[] = [
      (p) => { p.metadata.labels = { ...p.metadata.labels, [LABEL_BASELINE]: 'cluster' }; },
      (p) => { p.metadata.annotations = { [ANNOTATION_CONFLICT]: 'acme,beta' }; },
      (p) => { p.metadata.ownerReferences = [...(p.metadata.ownerReferences ?? []), { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u' }]; },
      (p) => { p.spec.policyTypes = ['Ingress']; },
    ];
    for (const change of variants) {
      const p = structuredClone(deny);
      change(p);
      expect(ownedDigest(deny)).toBe(d0);
      expect(ownedDigest(p)).not.toBe(d0);
    }
    // Server-set metadata is not owned: no new digest.
    expect(ownedDigest({ ...deny, metadata: { ...deny.metadata, resourceVersion: '43' } })).toBe(d0);
  });
});

describe('canonicalJson', () => {
  it('erases empty lists, empty matchLabels, null and undefined, and sorts keys', () => {
    expect(JSON.parse(canonicalJson({ b: 1, a: [], matchLabels: {}, c: null, d: undefined, e: { y: 1, x: [] } }))).toEqual({ b: 1, e: { y: 1 } });
    expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
  });

  it('keeps an empty rule: ingress [{}] (allow all) is not the same as no ingress (deny all)', () => {
    const allowAll = { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] };
    const denyAll = { podSelector: {}, policyTypes: ['Ingress'] };
    expect(JSON.parse(canonicalJson(allowAll))).toEqual({ podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] });
    expect(canonicalJson(allowAll)).not.toBe(canonicalJson(denyAll));
  });

  it('keeps a non-empty matchLabels and an empty selector object', () => {
    expect(canonicalJson({ podSelector: { matchLabels: { a: 'b' } }, namespaceSelector: {} })).toBe('{"namespaceSelector":{},"podSelector":{"matchLabels":{"a":"b"}}}');
  });

  it('keeps list order, which is meaningful', () => {
    expect(canonicalJson(['b', 'a'])).toBe('["b","a"]');
  });

  it('is JSON.stringify(canonical(x)), character for character', () => {
    const samples: unknown[] = [
      { b: 1, a: [], matchLabels: {}, c: null, d: undefined, e: { y: 1, x: [] } },
      { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
      { s: 'quote " and \\ and \u00e9 and \n', n: [1.5, -0, 1e21, true, false, null, undefined, 'x'], nested: [[{ matchLabels: {} }], []] },
      ['b', 'a'], 'plain', 42, true, null, {},
      ...desiredAll, ...desiredAll.map(stored),
    ];
    for (const x of samples) expect(canonicalJson(x)).toBe(JSON.stringify(canonical(x)));
  });
});

describe('compactPolicy (the controller cache form)', () => {
  it('keeps identity, our labels and a digest that agrees with policyDrift, and is idempotent', async () => {
    const { compactPolicy } = await import('../../src/policy/diff.ts');
    const { planNamespace, policiesToApply } = await import('../../src/policy/desired.ts');
    const { tenant } = await import('./fixtures.ts');
    const t = tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } });
    const [deny] = policiesToApply(planNamespace('a', [t], () => ['a']));
    const stored = structuredClone(deny!) as unknown as Record<string, unknown>;
    (stored.metadata as Record<string, unknown>).managedFields = [{ manager: 'x' }];
    (stored.metadata as Record<string, unknown>).labels = { ...(deny!.metadata.labels ?? {}), extra: 'ignored' };
    const compact = compactPolicy(stored as never);
    expect(compactPolicy(compact)).toBe(compact);
    expect(compact.spec).toBeUndefined();
    expect(compact.metadata.labels).toEqual(deny!.metadata.labels);
    expect(driftOfCached(deny!, compact)).toBeUndefined();
    const changed = structuredClone(deny!);
    changed.spec.policyTypes = ['Ingress'];
    expect(driftOfCached(changed, compact)).toBe('content');
    // With sharing: equal specs and label sets are the same objects, strings go through the table.
    const seen: string[] = [];
    const specs = new Map<string, object>();
    const share = {
      string: (s: string) => { seen.push(s); return s; },
      spec: (s: object) => { const k = JSON.stringify(s); if (!specs.has(k)) specs.set(k, s); return specs.get(k)!; },
    };
    const a = compactPolicy(structuredClone(deny!), share as never);
    const b = compactPolicy({ ...structuredClone(deny!), metadata: { ...deny!.metadata, namespace: 'b' } }, share as never);
    expect(a.spec).toBeDefined();
    expect(a.spec).toBe(b.spec);
    expect(seen).toContain('b');
  });

  it('uses a known digest as is, and leaves the digest empty where nothing reads it', async () => {
    const { compactPolicy, ownedDigest } = await import('../../src/policy/diff.ts');
    const { planNamespace, policiesToApply } = await import('../../src/policy/desired.ts');
    const { tenant } = await import('./fixtures.ts');
    const [deny] = policiesToApply(planNamespace('a', [tenant('acme', { namespaces: ['a'] })], () => ['a']));
    expect(compactPolicy(structuredClone(deny!)).ownedDigest).toBe(ownedDigest(deny!));
    expect(compactPolicy(structuredClone(deny!), { knownDigest: () => 'known' }).ownedDigest).toBe('known');
    expect(compactPolicy(structuredClone(deny!), { knownDigest: () => undefined }).ownedDigest).toBe(ownedDigest(deny!));
    expect(compactPolicy(structuredClone(deny!), { needsDigest: () => false }).ownedDigest).toBe('');
    expect(compactPolicy(structuredClone(deny!), { needsDigest: () => true }).ownedDigest).toBe(ownedDigest(deny!));
  });
});
