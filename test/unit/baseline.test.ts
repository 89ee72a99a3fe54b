// The cluster baseline, pure: which namespaces it covers, the policies it writes, its status, and that
// no moment of a swap between its policies and a tenant's leaves the namespace open.
import { describe, expect, it } from 'vitest';
import { parseBaseline, type IsolationBaselineObject, type ValidBaseline } from '../../src/api/baseline.ts';
import { RESERVED_NAMESPACES } from '../../src/api/schema.ts';
import { IsolationAnalyzer } from '../../src/analysis/analyzer.ts';
import type { PodInfo } from '../../src/analysis/types.ts';
import { baselineCovers, baselineExemption, baselineTemplates } from '../../src/policy/baseline.ts';
import { inNamespace, planNamespace, policiesToApply } from '../../src/policy/desired.ts';
import { baselineStatus, fleetStatusDiffers, profileStatus, statusPatch } from '../../src/controller/fleet-status.ts';
import type { NetworkPolicy } from '../../src/policy/types.ts';
import { tenant } from './fixtures.ts';

const reserved = new Set<string>(RESERVED_NAMESPACES);
function baseline(spec: Record<string, unknown>, name = 'cluster'): ValidBaseline {
  const r = parseBaseline({ metadata: { name, uid: 'uid-baseline', generation: 1 }, spec });
  if (!r.ok) throw new Error(r.error);
  return r.baseline;
}
const enforce = baseline({ mode: 'Enforce', exempt: { namespaces: ['monitoring'], namespaceSelector: { matchLabels: { 'isolation.example/exempt': 'true' } } } });

describe('the baseline covers', () => {
  it('every namespace no tenant claims, except reserved, kube-* and exempt ones', () => {
    expect(baselineExemption('team-a', {}, enforce, reserved)).toBeUndefined();
    expect(baselineExemption('kube-system', {}, enforce, reserved)).toBe('reserved');
    expect(baselineExemption('tenant-isolation-system', {}, enforce, reserved)).toBe('reserved');
    expect(baselineExemption('kube-flannel', {}, enforce, reserved)).toBe('a kube-* namespace');
    expect(baselineExemption('monitoring', {}, enforce, reserved)).toBe('exempt by name');
    expect(baselineExemption('x', { 'isolation.example/exempt': 'true' }, enforce, reserved)).toBe('exempt by selector');
    // --reserved-namespaces reach it through the same set the tenants' rules use.
    expect(baselineExemption('platform', {}, enforce, new Set([...reserved, 'platform']))).toBe('reserved');
  });

  it('a namespace claimed only by tenants in Audit mode (failing closed in Audit too), never one an enforcing or failing-closed tenant claims', () => {
    const audit = tenant('audit', { namespaces: ['a'], mode: 'Audit' });
    const enforcing = tenant('enf', { namespaces: ['a'] });
    expect(baselineCovers('a', {}, [], enforce, reserved)).toBe(true);
    expect(baselineCovers('a', {}, [audit], enforce, reserved)).toBe(true);
    expect(baselineCovers('a', {}, [enforcing], enforce, reserved)).toBe(false);
    expect(baselineCovers('a', {}, [audit, enforcing], enforce, reserved)).toBe(false);
    expect(baselineCovers('a', {}, [{ ...enforcing, invalid: 'spec.x: bad' }], enforce, reserved)).toBe(false);
    // Last seen in Audit, an invalid tenant stays in Audit: it writes nothing, so the baseline keeps the namespace.
    expect(baselineCovers('a', {}, [{ ...audit, invalid: 'spec.x: bad' }], enforce, reserved)).toBe(true);
    expect(baselineCovers('monitoring', {}, [], enforce, reserved)).toBe(false);
  });

  it('is a singleton named cluster with a required mode and no empty exemption selector', () => {
    expect(parseBaseline({ metadata: { name: 'other', uid: 'u' }, spec: { mode: 'Audit' } })).toEqual({ ok: false, error: 'metadata.name: must be cluster (the baseline is a singleton)' });
    expect(parseBaseline({ metadata: { name: 'cluster', uid: 'u' }, spec: {} })).toMatchObject({ ok: false, error: expect.stringContaining('spec.mode') as string });
    expect(parseBaseline({ metadata: { name: 'cluster', uid: 'u' }, spec: { mode: 'Enforce', exempt: { namespaceSelector: {} } } })).toMatchObject({ ok: false, error: expect.stringContaining('spec.exempt.namespaceSelector: must not be empty') as string });
  });
});

describe('baselineTemplates', () => {
  const ps = baselineTemplates(enforce);

  it('a default-deny both ways, DNS egress and traffic inside the namespace, with reserved names, our label and the baseline as owner', () => {
    expect(ps.map((p) => p.metadata.name)).toEqual(['tenant-isolation-baseline-deny', 'tenant-isolation-baseline-allow-dns', 'tenant-isolation-baseline-allow-same-namespace']);
    for (const p of ps) {
      expect(p.metadata.name.startsWith('tenant-isolation-')).toBe(true); // the admission guard protects them
      expect(p.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'tenant-isolation-operator', 'isolation.tenancy.dev/baseline': 'cluster' });
      expect(p.metadata.ownerReferences).toEqual([{ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'IsolationBaseline', name: 'cluster', uid: 'uid-baseline', controller: true, blockOwnerDeletion: true }]);
    }
    expect(ps[0]!.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(ps[1]!.spec.egress?.[0]?.ports).toEqual([{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }]);
    expect(ps[2]!.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [{ podSelector: {} }] }], egress: [{ to: [{ podSelector: {} }] }] });
  });

  it('leaves out DNS and same-namespace traffic when the spec says so; the deny always stays', () => {
    expect(baselineTemplates(baseline({ mode: 'Enforce', dns: { enabled: false }, intraNamespace: { enabled: false } })).map((p) => p.metadata.name)).toEqual(['tenant-isolation-baseline-deny']);
  });
});

describe('a swap between the baseline\'s policies and a tenant\'s', () => {
  // The namespace reconciler sends a namespace's writes together and deletes after: any subset of the
  // new set may land before the rest, then the old set goes in any order. No such state may be open.
  const ns = 'team-a';
  const pod = (namespace: string, name: string): PodInfo => ({ namespace, name, labels: { app: name }, ips: [], containerPorts: [{ containerPort: 8080 }] });
  const pods = [pod(ns, 'app'), pod(ns, 'peer'), pod('outsider', 'client'), pod('team-b', 'member')];
  const acme = tenant('acme', { namespaces: [ns, 'team-b'] });
  const tenantSet = policiesToApply(planNamespace(ns, [acme], () => [ns, 'team-b']));
  const baselineSet = baselineTemplates(enforce).map((t) => inNamespace(t, ns));
  const subsets = <T>(xs: T[]): T[][] => xs.reduce<T[][]>((acc, x) => [...acc, ...acc.map((s) => [...s, x])], [[]]);

  /** Whether anything reaches the namespace's pods from, or leaves them to, a namespace that is neither it nor a tenant peer. */
  function open(policies: NetworkPolicy[]): string | undefined {
    const a = IsolationAnalyzer.fromSnapshot({ namespaces: [ns, 'outsider', 'team-b'].map((name) => ({ name })), pods, policies });
    const unselected = a.podsSelectedByNoPolicy().filter((p) => p.startsWith(`${ns}/`));
    if (unselected.length > 0) return `unselected: ${unselected.join(', ')}`;
    const crossing = a.allowedPairs(8080).filter(([s, d]) => (s.startsWith('outsider/') && d.startsWith(`${ns}/`)) || (s.startsWith(`${ns}/`) && d.startsWith('outsider/')));
    return crossing.length > 0 ? `open: ${crossing.map(([s, d]) => `${s}->${d}`).join(', ')}` : undefined;
  }

  it('the check finds an open namespace (no policy at all)', () => {
    expect(open([])).toMatch(/^unselected/);
  });

  it('joining a tenant: baseline + any subset of the tenant\'s, then the tenant\'s + any subset of the baseline\'s', () => {
    const states = [...subsets(tenantSet).map((s) => [...baselineSet, ...s]), ...subsets(baselineSet).map((s) => [...tenantSet, ...s])];
    expect(states.length).toBe(2 ** tenantSet.length + 2 ** baselineSet.length);
    for (const s of states) expect(open(s), s.map((p) => p.metadata.name).join(', ')).toBeUndefined();
  });

  it('leaving a tenant: the tenant\'s + any subset of the baseline\'s, then the baseline + any subset of the tenant\'s', () => {
    for (const s of [...subsets(baselineSet).map((x) => [...tenantSet, ...x]), ...subsets(tenantSet).map((x) => [...baselineSet, ...x])]) {
      expect(open(s), s.map((p) => p.metadata.name).join(', ')).toBeUndefined();
    }
  });
});

describe('status', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const obj = (spec: Record<string, unknown>, status?: IsolationBaselineObject['status']): IsolationBaselineObject => ({ metadata: { name: 'cluster', uid: 'u', generation: 2 }, spec, ...(status ? { status } : {}) });
  const facts = (spec: Record<string, unknown>, over: Partial<Parameters<typeof baselineStatus>[0]> = {}) => {
    const o = obj(spec);
    return { object: o, parsed: parseBaseline(o), covered: ['a', 'b'], pending: [], exempt: 3, unselectedPods: ['a/p'], now, ...over };
  };

  it('Audit: Ready AuditMode, the namespaces it would isolate, the unselected pods there, and one Event for new ones', () => {
    const r = baselineStatus(facts({ mode: 'Audit' }));
    expect(r.status).toMatchObject({ observedGeneration: 2, summary: '2 would isolate (Audit)', namespaceCount: 2, namespaces: ['a', 'b'], unselectedPodCount: 1, unselectedPods: ['a/p'] });
    expect(r.status.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'AuditMode' });
    expect(r.events).toEqual([{ type: 'Normal', reason: 'WouldIsolate', message: 'Audit mode: Enforce would isolate namespace(s) a, b' }]);
    const again = baselineStatus({ ...facts({ mode: 'Audit' }), object: obj({ mode: 'Audit' }, r.status), covered: ['a', 'b', 'c'] });
    expect(again.events.map((e) => e.message)).toEqual(['Audit mode: Enforce would isolate namespace(s) c']);
  });

  it('Audit past the listed 1 000: namespaces beyond the stored list are not announced again on every write', () => {
    const many = Array.from({ length: 1200 }, (_, i) => `ns-${String(i).padStart(4, '0')}`);
    const first = baselineStatus({ ...facts({ mode: 'Audit' }), covered: many });
    expect(first.status.namespaces).toHaveLength(1000);
    const same = baselineStatus({ ...facts({ mode: 'Audit' }), object: obj({ mode: 'Audit' }, first.status), covered: many, unselectedPods: [] });
    expect(same.events).toEqual([]);
    // One that sorts within the stored list is still told new.
    const more = baselineStatus({ ...facts({ mode: 'Audit' }), object: obj({ mode: 'Audit' }, first.status), covered: [...many, 'ns-0000a'].sort() });
    expect(more.events.map((e) => e.message)).toEqual(['Audit mode: Enforce would isolate namespace(s) ns-0000a']);
  });

  it('Enforce: Isolated when every covered namespace holds its policies, Pending naming those that do not', () => {
    expect(baselineStatus(facts({ mode: 'Enforce' })).status).toMatchObject({ summary: '2 isolated, 3 exempt', conditions: [expect.objectContaining({ status: 'True', reason: 'Isolated' })] });
    const p = baselineStatus(facts({ mode: 'Enforce' }, { pending: ['b'] }));
    expect(p.status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'Pending', message: '1 of 2 namespace(s) not yet isolated: b' });
  });

  it('Off and invalid specs', () => {
    expect(baselineStatus(facts({ mode: 'Off' })).status).toMatchObject({ summary: 'off', namespaceCount: 0 });
    const bad = baselineStatus(facts({ mode: 'Sometimes' }));
    expect(bad.status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
    expect(bad.events.map((e) => e.reason)).toEqual(['InvalidSpec']);
  });

  it('a profile lists its tenants and says whether it is valid; an unchanged status costs no write; removed fields are nulled', () => {
    const p = { metadata: { name: 'p', uid: 'u', generation: 1 }, spec: { mode: 'Audit' } };
    const r = profileStatus(p, ['a', 'b'], now);
    expect(r.status).toMatchObject({ tenantCount: 2, tenants: ['a', 'b'], conditions: [expect.objectContaining({ reason: 'Valid' })] });
    expect(fleetStatusDiffers(r.status, profileStatus({ ...p, status: r.status }, ['a', 'b'], new Date()).status)).toBe(false);
    expect(fleetStatusDiffers(r.status, profileStatus(p, ['a'], now).status)).toBe(true);
    const invalid = profileStatus({ ...p, spec: { mode: 'x' } }, ['a'], now);
    expect(invalid.status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringContaining('its 1 tenant(s) fail closed') as string });
    expect(statusPatch({ a: 1, b: 2 }, { a: 3 })).toEqual({ a: 3, b: null });
  });
});
