// How a tenant's intra-tenant policies name its members: a tenant with nothing isolated starts by label,
// the choice holds until its status records one, and the guard's absence means names.
import { describe, expect, it } from 'vitest';
import type { PeerMode, TenantIsolationObject } from '../../src/api/schema.ts';
import { PeerModes } from '../../src/controller/peer-modes.ts';

const tenant = (uid: string, peers?: PeerMode): TenantIsolationObject => ({
  metadata: { name: 'acme', uid, generation: 1 }, ...(peers ? { status: { intraTenantPeers: peers } } : {}),
});

function setup(): { modes: PeerModes; set: (o: { guarded?: boolean; obj?: TenantIsolationObject; holds?: boolean; labelled?: boolean; synced?: boolean }) => void } {
  let guarded = true; let obj: TenantIsolationObject | undefined = tenant('u1'); let holds = false; let labelled = false; let synced = true;
  const modes = new PeerModes({ guarded: () => guarded, tenant: () => obj, holdsPolicies: () => holds, labelled: () => labelled, synced: () => synced });
  return { modes, set: (o) => { guarded = o.guarded ?? guarded; obj = 'obj' in o ? o.obj : obj; holds = o.holds ?? holds; labelled = o.labelled ?? labelled; synced = o.synced ?? synced; } };
}

describe('PeerModes', () => {
  it('starts a tenant that holds no policy by label, and keeps that choice until the status records one', () => {
    const { modes, set } = setup();
    expect(modes.inUse(tenant('u1'))).toBeUndefined();
    expect(modes.of('acme')).toBe('MembershipLabel');
    // Its first members are isolated: the choice holds (no member is left naming the others).
    set({ holds: true });
    expect(modes.of('acme')).toBe('MembershipLabel');
    expect(modes.inUse(tenant('u1'))).toBe('MembershipLabel');
    // Recorded: the status rules, the same mode is no switch.
    expect(modes.inUse(tenant('u1', 'MembershipLabel'))).toBe('MembershipLabel');
    set({ obj: tenant('u1', 'NamespaceNames') });
    expect(modes.of('acme')).toBe('NamespaceNames');
  });

  it('names members of a tenant that holds policies when first asked (a restart before its first status)', () => {
    const { modes, set } = setup();
    set({ holds: true });
    expect(modes.of('acme')).toBe('NamespaceNames');
    // Its policies all gone later: still by name until the status switches it.
    set({ holds: false });
    expect(modes.of('acme')).toBe('NamespaceNames');
  });

  it('names members while any namespace carries the tenant\'s member label (a stray could be admitted)', () => {
    const { modes, set } = setup();
    set({ labelled: true });
    expect(modes.of('acme')).toBe('NamespaceNames');
  });

  it('chooses again for a new tenant of the same name, and names without the guard, forgetting its choices', () => {
    const { modes, set } = setup();
    set({ holds: true });
    expect(modes.of('acme')).toBe('NamespaceNames');
    set({ obj: tenant('u2'), holds: false });
    expect(modes.of('acme')).toBe('MembershipLabel');
    set({ guarded: false });
    expect(modes.of('acme')).toBe('NamespaceNames');
    expect(modes.inUse(tenant('u2'))).toBeUndefined();
    // The guard back: its members were written by name meanwhile.
    set({ guarded: true, holds: true });
    expect(modes.of('acme')).toBe('NamespaceNames');
    set({ obj: undefined });
    expect(modes.of('acme')).toBe('NamespaceNames');
  });

  it('chooses nothing before the caches have synced (the policy cache may still be filling)', () => {
    const { modes, set } = setup();
    set({ synced: false });
    expect(modes.of('acme')).toBe('NamespaceNames');
    expect(modes.inUse(tenant('u1'))).toBeUndefined();
    set({ synced: true });
    expect(modes.of('acme')).toBe('MembershipLabel');
  });

  it('forgets its choices when the guard goes, even if nobody asks meanwhile', () => {
    const { modes, set } = setup();
    expect(modes.of('acme')).toBe('MembershipLabel');
    modes.guardChanged(); // the guard is still there: kept
    expect(modes.inUse(tenant('u1'))).toBe('MembershipLabel');
    set({ guarded: false });
    modes.guardChanged();
    set({ guarded: true, holds: true });
    expect(modes.inUse(tenant('u1'))).toBeUndefined();
    expect(modes.of('acme')).toBe('NamespaceNames');
  });

  it('forgets a tenant once settled', () => {
    const { modes } = setup();
    expect(modes.of('acme')).toBe('MembershipLabel');
    modes.settle('acme');
    expect(modes.inUse(tenant('u1'))).toBeUndefined();
  });
});
