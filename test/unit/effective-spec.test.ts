// A tenant's effective spec: its own settings over its profile's, leaf by leaf, then the built-in
// defaults; allow entries add up; allow.exclude drops named inherited entries; anything that cannot be
// honoured exactly fails closed with a reason and a message naming the field or the profile.
import { describe, expect, it } from 'vitest';
import { parseTenant, type ProfileLookup, type TenantIsolationSpec } from '../../src/api/schema.ts';
import { parseProfile, profileLookupOf } from '../../src/api/profile.ts';
import { planNamespace } from '../../src/policy/desired.ts';

const SEL = { namespaceSelector: { matchLabels: { tenant: 'acme' } } };
const MONITORING = { name: 'monitoring', namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } }, ports: [{ protocol: 'TCP', port: 9090 }] };
const INGRESS = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress' } } };
const PAYMENTS = { name: 'payments', ipBlock: { cidr: '198.51.100.0/24' }, ports: [{ protocol: 'TCP', port: 443 }] };

const profiles = (specs: Record<string, unknown>): ProfileLookup => profileLookupOf(Object.entries(specs).map(([name, spec]) => ({ metadata: { name, uid: `uid-${name}` }, spec })));
const parse = (spec: Record<string, unknown>, lookup: ProfileLookup = () => undefined) => parseTenant({ metadata: { name: 'acme', uid: 'u', generation: 1 }, spec }, lookup);
function effective(spec: Record<string, unknown>, lookup?: ProfileLookup): TenantIsolationSpec {
  const r = parse(spec, lookup);
  if (!r.ok) throw new Error(r.error);
  return r.tenant.spec;
}

const STRICT = {
  mode: 'Audit',
  defaultDeny: { ingress: true, egress: false },
  dns: { namespace: 'dns', podSelector: { matchLabels: { app: 'coredns' } }, ipBlocks: [{ cidr: '169.254.20.10/32' }] },
  intraTenant: { enabled: false },
  allow: { ingressFrom: [MONITORING, INGRESS], egressTo: [PAYMENTS] },
};

describe('the effective spec', () => {
  it('with no profile is the tenant\'s settings over the built-in defaults', () => {
    const s = effective({ ...SEL, dns: { ipBlocks: [{ cidr: '169.254.20.10/32' }] } });
    expect(s.mode).toBe('Enforce');
    expect(s.defaultDeny).toEqual({ ingress: true, egress: true });
    expect(s.dns).toEqual({ enabled: true, namespace: 'kube-system', podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } }, ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }], ipBlocks: [{ cidr: '169.254.20.10/32' }] });
    expect(s.intraTenant).toEqual({ enabled: true });
    expect(s.allow).toEqual({ ingressFrom: [], egressTo: [] });
  });

  it('inherits every leaf a tenant does not set from its profile', () => {
    const r = parse({ ...SEL, profile: 'strict' }, profiles({ strict: STRICT }));
    expect(r.ok && r.tenant.profile).toBe('strict');
    const s = effective({ ...SEL, profile: 'strict' }, profiles({ strict: STRICT }));
    expect(s.mode).toBe('Audit');
    expect(s.defaultDeny).toEqual({ ingress: true, egress: false });
    // Leaves the profile leaves out still take the built-in default (enabled, ports).
    expect(s.dns).toEqual({ enabled: true, namespace: 'dns', podSelector: { matchLabels: { app: 'coredns' } }, ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }], ipBlocks: [{ cidr: '169.254.20.10/32' }] });
    expect(s.intraTenant).toEqual({ enabled: false });
    expect(s.allow.ingressFrom).toHaveLength(2);
    expect(s.allow.egressTo).toEqual([{ ...PAYMENTS }]);
  });

  it('overrides leaf by leaf: a tenant\'s leaf wins, its sibling leaves are still inherited', () => {
    const s = effective({ ...SEL, profile: 'strict', mode: 'Enforce', defaultDeny: { egress: true }, dns: { namespace: 'kube-system' }, intraTenant: { enabled: true } }, profiles({ strict: STRICT }));
    expect(s.mode).toBe('Enforce');
    expect(s.defaultDeny).toEqual({ ingress: true, egress: true });
    expect(s.dns.namespace).toBe('kube-system');
    expect(s.dns.podSelector).toEqual({ matchLabels: { app: 'coredns' } }); // still the profile's
    expect(s.dns.ipBlocks).toEqual([{ cidr: '169.254.20.10/32' }]);
    expect(s.intraTenant.enabled).toBe(true);
  });

  it('replaces lists and selectors whole: a tenant\'s dns.ports is the list, never merged with the profile\'s', () => {
    const p = profiles({ p: { dns: { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }, { protocol: 'TCP', port: 5353 }] } } });
    expect(effective({ ...SEL, profile: 'p', dns: { ports: [{ protocol: 'UDP', port: 5353 }] } }, p).dns.ports).toEqual([{ protocol: 'UDP', port: 5353 }]);
    // An explicit false or empty list is a value, not an absence.
    expect(effective({ ...SEL, profile: 'strict', dns: { ipBlocks: [] } }, profiles({ strict: STRICT })).dns.ipBlocks).toEqual([]);
    expect(effective({ ...SEL, profile: 'strict', defaultDeny: { ingress: false } }, profiles({ strict: STRICT })).defaultDeny.ingress).toBe(false);
  });

  it('adds allow entries up: the profile\'s first, then the tenant\'s', () => {
    const own = { podSelector: { matchLabels: { app: 'web' } }, ports: [{ protocol: 'TCP', port: 8080 }] };
    const s = effective({ ...SEL, profile: 'strict', allow: { ingressFrom: [own] } }, profiles({ strict: STRICT }));
    expect(s.allow.ingressFrom.map((r) => r.name ?? r.podSelector?.matchLabels?.app ?? 'ingress')).toEqual(['monitoring', 'ingress', 'web']);
    expect(s.allow.egressTo).toHaveLength(1);
  });

  it('drops inherited entries named in allow.exclude, in both directions, and keeps unnamed ones', () => {
    const both = { allow: { ingressFrom: [MONITORING, INGRESS], egressTo: [{ ...MONITORING, ports: [] }, PAYMENTS] } };
    const s = effective({ ...SEL, profile: 'p', allow: { exclude: ['monitoring'] } }, profiles({ p: both }));
    expect(s.allow.ingressFrom).toEqual([{ ...INGRESS, ports: [] }]);
    expect(s.allow.egressTo.map((r) => r.name)).toEqual(['payments']);
  });

  it('applies the profile named default to a tenant that names none, and only then', () => {
    const lookup = profiles({ default: { mode: 'Audit' }, other: { mode: 'Enforce' } });
    const r = parse(SEL, lookup);
    expect(r.ok && r.tenant.profile).toBe('default');
    expect(r.ok && r.tenant.spec.mode).toBe('Audit');
    expect(effective({ ...SEL, profile: 'other' }, lookup).mode).toBe('Enforce');
    // No default profile: the built-in defaults, and no profile recorded.
    const none = parse(SEL, profiles({}));
    expect(none.ok && none.tenant.profile).toBeUndefined();
  });
});

describe('a tenant whose profile cannot be honoured fails closed', () => {
  it('a profile it names that does not exist: ProfileNotFound, naming the profile, claims kept', () => {
    const r = parse({ ...SEL, profile: 'gone' }, profiles({}));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.reason).toBe('ProfileNotFound');
    expect(r.error).toBe('spec.profile: IsolationProfile gone does not exist');
    // It keeps claiming its namespaces, with the secure defaults (a full deny where it fails closed).
    expect(r.claims?.spec.namespaceSelector).toEqual(SEL.namespaceSelector);
    expect(r.claims?.invalidReason).toBe('ProfileNotFound');
    expect(r.claims?.spec.defaultDeny).toEqual({ ingress: true, egress: true });
  });

  it('stays in the mode it was last seen in: Audit (status, else its own spec) writes nothing where it claims alone', () => {
    const at = (spec: Record<string, unknown>, status?: Record<string, unknown>) => {
      const r = parseTenant({ metadata: { name: 'acme', uid: 'u', generation: 2 }, spec, ...(status ? { status } : {}) }, profiles({}));
      if (r.ok || !r.claims) throw new Error('expected an invalid tenant with claims');
      return r.claims;
    };
    // Its Audit came from the profile now gone: the status recorded it.
    const lastAudit = at({ ...SEL, profile: 'rollout' }, { mode: 'Audit' });
    expect(lastAudit.spec.mode).toBe('Audit');
    expect(planNamespace('a', [lastAudit], () => ['a'])).toMatchObject({ kind: 'failClosed', policies: [] });
    expect(at({ ...SEL, profile: 'rollout', mode: 'Audit' }).spec.mode).toBe('Audit');
    // Last seen enforcing (an edit to Audit that also broke the spec does not count), or never seen: a deny.
    const lastEnforce = at({ ...SEL, profile: 'rollout', mode: 'Audit' }, { mode: 'Enforce' });
    expect(lastEnforce.spec.mode).toBe('Enforce');
    const denied = planNamespace('a', [lastEnforce], () => ['a']);
    expect(denied.kind === 'failClosed' && denied.policies.map((p) => p.metadata.name)).toEqual(['tenant-isolation-default-deny']);
    expect(at({ ...SEL, profile: 'rollout', mode: 'Sometimes' }).spec.mode).toBe('Enforce');
  });

  it('an invalid profile, named or the default: InvalidProfile, naming the profile and its field', () => {
    const bad = profiles({ strict: { dns: { ports: [{ port: 'web--http' }] } }, default: { mode: 'Sometimes' } });
    const named = parse({ ...SEL, profile: 'strict' }, bad);
    expect(!named.ok && named.reason).toBe('InvalidProfile');
    expect(!named.ok && named.error).toMatch(/^spec\.profile: IsolationProfile strict is invalid: spec\.dns\.ports\[0\]\.port: /);
    const inherited = parse(SEL, bad);
    expect(!inherited.ok && inherited.error).toMatch(/^spec\.profile: IsolationProfile default \(inherited by every tenant that names no profile\) is invalid: spec\.mode/);
    expect(!inherited.ok && inherited.claims).toBeTruthy();
  });

  it('an exclude naming no inherited entry (a renamed profile entry must not slip back in): InvalidSpec', () => {
    const r = parse({ ...SEL, profile: 'strict', allow: { exclude: ['prometheus'] } }, profiles({ strict: STRICT }));
    expect(!r.ok && r.reason).toBe('InvalidSpec');
    expect(!r.ok && r.error).toBe('spec.allow.exclude[0]: IsolationProfile strict has no allow entry named prometheus');
    const noProfile = parse({ ...SEL, allow: { exclude: ['monitoring'] } });
    expect(!noProfile.ok && noProfile.error).toMatch(/^spec\.allow\.exclude\[0\]: the tenant inherits from no IsolationProfile/);
  });

  it('the tenant\'s own invalid spec is reported as before, whatever its profile', () => {
    const r = parse({ ...SEL, profile: 'gone', mode: 'Sometimes' }, profiles({}));
    expect(!r.ok && r.reason).toBe('InvalidSpec');
    expect(!r.ok && r.error).toMatch(/^spec\.mode/);
  });
});

describe('IsolationProfile', () => {
  it('accepts every inheritable setting, with allow entry names, and refuses membership fields and unknown ones', () => {
    expect(parseProfile({ metadata: { name: 'p', uid: 'u' }, spec: STRICT })).toMatchObject({ name: 'p', spec: { mode: 'Audit' } });
    expect(parseProfile({ metadata: { name: 'p', uid: 'u' }, spec: {} })).toEqual({ name: 'p', spec: {} });
    expect(parseProfile({ metadata: { name: 'p', uid: 'u' }, spec: { namespaceSelector: { matchLabels: { a: 'b' } } } })).toMatchObject({ error: expect.stringContaining('namespaceSelector') as string });
    expect(parseProfile({ metadata: { name: 'p', uid: 'u' }, spec: { allow: { exclude: ['x'] } } })).toMatchObject({ error: expect.stringContaining('exclude') as string });
    expect(parseProfile({ metadata: { name: 'p', uid: 'u' }, spec: { allow: { ingressFrom: [{ ...INGRESS, name: 'Not A Name' }] } } })).toMatchObject({ error: expect.stringContaining('spec.allow.ingressFrom[0].name') as string });
  });
});
