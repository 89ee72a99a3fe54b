// The per-tenant policy memo: digests kept for every tenant, templates only for the most recently used.
import { describe, expect, it } from 'vitest';
import { DesiredPolicies } from '../../src/controller/desired-policies.ts';
import { memberTemplates } from '../../src/policy/desired.ts';
import { MembershipIndex } from '../../src/policy/membership.ts';
import type { PeerMode } from '../../src/api/schema.ts';
import { tenant } from './fixtures.ts';

function setup(n: number, peers: PeerMode = 'MembershipLabel') {
  const ix = new MembershipIndex();
  const tenants = Array.from({ length: n }, (_, i) => tenant(`t${i}`, { namespaceSelector: { matchLabels: { team: `t${i}` } } }));
  for (const t of tenants) { ix.setTenant(t); ix.setNamespace(`${t.name}-a`, { team: t.name }); }
  return { ix, tenants, desired: new DesiredPolicies(ix, () => peers) };
}

describe('DesiredPolicies', () => {
  it('keeps the templates of the most recently used tenants only, and every tenant\'s digests', () => {
    const kept = DesiredPolicies.TEMPLATES_KEPT;
    const { tenants, desired, ix } = setup(kept + 10);
    const firstDigests = desired.forTenant(tenants[0]!).digests;
    for (const t of tenants.slice(1)) desired.forTenant(t);
    expect(desired.templatesKept).toBe(kept);
    // The first tenant's templates were let go: its digests are the very same map, without rebuilding them.
    expect(desired.digestsOf(tenants[0]!)).toBe(firstDigests);
    expect(desired.templatesKept).toBe(kept);
    // Asked for again, its templates are rebuilt as they were, and hash to the kept digests.
    const again = desired.forTenant(tenants[0]!);
    expect(again.templates).toEqual(memberTemplates(tenants[0]!, ix.membersOf('t0'), 'MembershipLabel'));
    expect(again.digests).toBe(firstDigests);
    expect(desired.templatesKept).toBe(kept);
    // Used recently, a tenant's templates are the same objects (no rebuild).
    expect(desired.forTenant(tenants[0]!).templates).toBe(again.templates);
  });

  it('digestsOf for a tenant not yet seen hashes its policies without keeping its templates', () => {
    const { tenants, desired, ix } = setup(2);
    const d = desired.digestsOf(tenants[0]!);
    expect(desired.templatesKept).toBe(0);
    expect(desired.forTenant(tenants[0]!).digests).toBe(d);
    expect(desired.templatesKept).toBe(1);
    expect(d).toEqual(new DesiredPolicies(ix, () => 'MembershipLabel').forTenant(tenants[0]!).digests);
  });

  it('a new spec or, naming members, a new member gives new digests', () => {
    const { tenants, desired, ix } = setup(1, 'NamespaceNames');
    const t = tenants[0]!;
    const before = desired.digestsOf(t);
    ix.setNamespace('t0-b', { team: 't0' });
    const afterJoin = desired.digestsOf(t);
    expect(afterJoin).not.toBe(before);
    expect(afterJoin.get('tenant-isolation-allow-intra-tenant')).not.toBe(before.get('tenant-isolation-allow-intra-tenant'));
    expect(afterJoin.get('tenant-isolation-default-deny')).toBe(before.get('tenant-isolation-default-deny'));
    const edited = tenant('t0', { namespaceSelector: { matchLabels: { team: 't0' } }, dns: { enabled: false } }, 2);
    ix.setTenant(edited);
    expect(desired.digestsOf(edited).has('tenant-isolation-allow-dns')).toBe(false);
  });
});
