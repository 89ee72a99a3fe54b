import { describe, expect, it } from 'vitest';
import { MembershipIndex } from '../../src/policy/membership.ts';
import { tenant } from './fixtures.ts';

const acme = tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } } });
const globex = tenant('globex', { namespaceSelector: { matchLabels: { tenant: 'globex' } } });

function index(): MembershipIndex {
  const ix = new MembershipIndex();
  ix.setTenant(acme);
  ix.setTenant(globex);
  return ix;
}

describe('MembershipIndex claims', () => {
  it('a tenant claims namespaces its selector matches and no others', () => {
    const ix = index();
    ix.setNamespace('a1', { tenant: 'acme' });
    ix.setNamespace('a2', { tenant: 'acme', other: 'x' });
    ix.setNamespace('g1', { tenant: 'globex' });
    ix.setNamespace('none', { team: 'acme' });
    ix.setNamespace('bare', undefined);
    expect(ix.claimedBy('acme')).toEqual(['a1', 'a2']);
    expect(ix.membersOf('acme')).toEqual(['a1', 'a2']);
    expect(ix.claimedBy('globex')).toEqual(['g1']);
    expect(ix.claimantsOf('none')).toEqual([]);
    expect(ix.claimantsOf('bare')).toEqual([]);
    expect(ix.hasNamespace('bare')).toBe(true);
    expect(ix.hasNamespace('never-seen')).toBe(false);
  });

  it('a tenant claims namespaces named explicitly, whatever their labels, once they exist', () => {
    const ix = new MembershipIndex();
    ix.setTenant(tenant('named', { namespaces: ['n1', 'n2'] }));
    ix.setNamespace('n1', {});
    ix.setNamespace('other', {});
    expect(ix.claimedBy('named')).toEqual(['n1']);
    ix.setNamespace('n2', { anything: 'x' });
    expect(ix.claimedBy('named')).toEqual(['n1', 'n2']);
  });

  it('selector and explicit names add up (union)', () => {
    const ix = new MembershipIndex();
    ix.setTenant(tenant('both', { namespaceSelector: { matchLabels: { tenant: 'both' } }, namespaces: ['by-name'] }));
    ix.setNamespace('by-label', { tenant: 'both' });
    ix.setNamespace('by-name', {});
    ix.setNamespace('by-both', { tenant: 'both' });
    ix.setNamespace('neither', {});
    expect(ix.claimedBy('both')).toEqual(['by-both', 'by-label', 'by-name']);
  });

  it('the static claims() answers for one tenant and namespace without an index', () => {
    expect(MembershipIndex.claims(acme, 'x', { tenant: 'acme' })).toBe(true);
    expect(MembershipIndex.claims(acme, 'x', { tenant: 'globex' })).toBe(false);
    expect(MembershipIndex.claims(tenant('n', { namespaces: ['x'] }), 'x', {})).toBe(true);
    expect(MembershipIndex.claims(tenant('n', { namespaces: ['x'] }), 'y', {})).toBe(false);
  });

  it('a namespace claimed by two tenants is a conflict: claimed by both, a member of neither', () => {
    const ix = index();
    ix.setTenant(tenant('wide', { namespaceSelector: { matchExpressions: [{ key: 'tenant', operator: 'Exists' }] } }));
    ix.setNamespace('a1', { tenant: 'acme' });
    ix.setNamespace('w1', { tenant: 'other' });
    expect(ix.claimantsOf('a1')).toEqual(['acme', 'wide']);
    expect(ix.claimedBy('acme')).toEqual(['a1']);
    expect(ix.membersOf('acme')).toEqual([]);
    expect(ix.claimedBy('wide')).toEqual(['a1', 'w1']);
    expect(ix.membersOf('wide')).toEqual(['w1']);
  });

  it('lists tenant names sorted and looks tenants up by name', () => {
    const ix = new MembershipIndex();
    ix.setTenant(globex);
    ix.setTenant(acme);
    expect(ix.tenantNames()).toEqual(['acme', 'globex']);
    expect(ix.tenant('acme')).toBe(acme);
    expect(ix.tenant('nobody')).toBeUndefined();
  });
});

describe('MembershipIndex change reporting', () => {
  it('setNamespace returns the tenant that gained a new namespace', () => {
    const ix = index();
    expect(ix.setNamespace('a1', { tenant: 'acme' })).toEqual(new Set(['acme']));
    expect(ix.setNamespace('plain', {})).toEqual(new Set());
  });

  it('moving a namespace between tenants reports both sides', () => {
    const ix = index();
    ix.setNamespace('ns', { tenant: 'acme' });
    expect(ix.setNamespace('ns', { tenant: 'globex' })).toEqual(new Set(['acme', 'globex']));
    expect(ix.claimedBy('acme')).toEqual([]);
    expect(ix.membersOf('globex')).toEqual(['ns']);
  });

  it('a label change that does not change claims reports nothing and bumps no version', () => {
    const ix = index();
    ix.setNamespace('ns', { tenant: 'acme' });
    const v = ix.version('acme');
    expect(ix.setNamespace('ns', { tenant: 'acme', unrelated: 'changed' })).toEqual(new Set());
    expect(ix.version('acme')).toBe(v);
  });

  it('a namespace becoming a conflict reports both tenants, and leaving the conflict reports both again', () => {
    const ix = index();
    ix.setTenant(tenant('wide', { namespaceSelector: { matchLabels: { shared: 'yes' } } }));
    ix.setNamespace('ns', { tenant: 'acme' });
    expect(ix.setNamespace('ns', { tenant: 'acme', shared: 'yes' })).toEqual(new Set(['acme', 'wide']));
    expect(ix.membersOf('acme')).toEqual([]);
    expect(ix.setNamespace('ns', { shared: 'yes' })).toEqual(new Set(['acme', 'wide']));
    expect(ix.membersOf('wide')).toEqual(['ns']);
  });

  it('deleteNamespace removes it from every claimant and reports them', () => {
    const ix = index();
    ix.setNamespace('a1', { tenant: 'acme' });
    ix.setNamespace('a2', { tenant: 'acme' });
    expect(ix.deleteNamespace('a1')).toEqual(new Set(['acme']));
    expect(ix.claimedBy('acme')).toEqual(['a2']);
    expect(ix.claimantsOf('a1')).toEqual([]);
    expect(ix.hasNamespace('a1')).toBe(false);
    expect(ix.deleteNamespace('a1')).toEqual(new Set());
  });

  it('deleteTenant drops its claims, reports it and the tenants sharing its namespaces, and resolves conflicts', () => {
    const ix = index();
    ix.setTenant(tenant('wide', { namespaceSelector: { matchLabels: { shared: 'yes' } } }));
    ix.setNamespace('a1', { tenant: 'acme', shared: 'yes' });
    ix.setNamespace('w1', { shared: 'yes' });
    expect(ix.deleteTenant('wide')).toEqual(new Set(['acme', 'wide']));
    expect(ix.claimantsOf('a1')).toEqual(['acme']);
    expect(ix.membersOf('acme')).toEqual(['a1']);
    expect(ix.claimantsOf('w1')).toEqual([]);
    expect(ix.claimedBy('wide')).toEqual([]);
    expect(ix.tenant('wide')).toBeUndefined();
    expect(ix.tenantNames()).toEqual(['acme', 'globex']);
  });

  it('deleting an unknown tenant changes nothing', () => {
    const ix = index();
    ix.setNamespace('a1', { tenant: 'acme' });
    expect(ix.deleteTenant('nobody')).toEqual(new Set());
    expect(ix.claimedBy('acme')).toEqual(['a1']);
  });

  it('setTenant with a changed selector moves namespaces and reports every tenant on either side', () => {
    const ix = index();
    ix.setNamespace('a1', { tenant: 'acme' });
    ix.setNamespace('g1', { tenant: 'globex' });
    const moved = tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'globex' } } }, 2);
    expect(ix.setTenant(moved)).toEqual(new Set(['acme', 'globex']));
    expect(ix.claimedBy('acme')).toEqual(['g1']);
    expect(ix.claimantsOf('a1')).toEqual([]);
    expect(ix.claimantsOf('g1')).toEqual(['acme', 'globex']);
    expect(ix.membersOf('globex')).toEqual([]);
    expect(ix.tenant('acme')).toBe(moved);
  });

  it('setTenant and deleteTenant name every namespace whose claimants changed, left or joined', () => {
    const ix = index();
    for (const [n, t] of [['a1', 'acme'], ['a2', 'acme'], ['g1', 'globex']]) ix.setNamespace(n!, { tenant: t! });
    const moved = new Set<string>();
    ix.setTenant(tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'globex' } }, namespaces: ['a2'] }, 2), moved);
    // a1 left (it must lose acme's policies even if none has been seen yet), g1 joined, a2 stayed.
    expect(moved).toEqual(new Set(['a1', 'g1']));
    const gone = new Set<string>();
    ix.deleteTenant('acme', gone);
    expect(gone).toEqual(new Set(['a2', 'g1']));
    const none = new Set<string>();
    ix.setTenant(globex, none);
    expect(none).toEqual(new Set());
  });

  it('re-setting a tenant whose claims are unchanged reports nothing', () => {
    const ix = index();
    ix.setNamespace('a1', { tenant: 'acme' });
    const v = ix.version('acme');
    expect(ix.setTenant(tenant('acme', { namespaceSelector: { matchLabels: { tenant: 'acme' } }, mode: 'Audit' }, 2))).toEqual(new Set());
    expect(ix.version('acme')).toBe(v);
    expect(ix.tenant('acme')?.spec.mode).toBe('Audit');
  });

  it('version() starts at 0 and bumps for every tenant whose claimed or member set changed, and only those', () => {
    const ix = index();
    expect(ix.version('acme')).toBe(0);
    ix.setNamespace('a1', { tenant: 'acme' });
    const a = ix.version('acme');
    const g = ix.version('globex');
    expect(a).toBeGreaterThan(0);
    ix.setNamespace('a2', { tenant: 'acme' });
    expect(ix.version('acme')).toBeGreaterThan(a);
    expect(ix.version('globex')).toBe(g);
  });

  it('member lists stay current after changes (no stale cached answer)', () => {
    const ix = index();
    ix.setNamespace('a2', { tenant: 'acme' });
    expect(ix.membersOf('acme')).toEqual(['a2']);
    ix.setNamespace('a1', { tenant: 'acme' });
    expect(ix.membersOf('acme')).toEqual(['a1', 'a2']);
    expect(ix.claimedBy('acme')).toEqual(['a1', 'a2']);
    ix.setNamespace('a2', {});
    expect(ix.membersOf('acme')).toEqual(['a1']);
  });
});

describe('MembershipIndex tenant lookup', () => {
  // The index narrows which tenants a namespace event evaluates; it must never change the answer.
  // Brute force (every tenant against every namespace) is the reference.
  const rand = (seed: number) => () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const keys = ['team', 'env', 'tier'];
  const values = ['a', 'b', 'c'];
  function randomTenant(r: () => number, name: string, gen: number) {
    const kind = Math.floor(r() * 5);
    const ml = (n: number) => Object.fromEntries(Array.from({ length: n }, () => [pick(r, keys), pick(r, values)]));
    const names = r() < 0.3 ? [`ns${Math.floor(r() * 12)}`] : [];
    const spec = kind === 0 ? { namespaceSelector: { matchLabels: ml(1) }, namespaces: names }
      : kind === 1 ? { namespaceSelector: { matchLabels: ml(2) } }
        // A selector must name its namespaces (an In or Exists term); a NotIn or DoesNotExist may narrow it.
        : kind === 2 ? { namespaceSelector: { matchExpressions: [expression(r, ['In', 'Exists']), ...(r() < 0.5 ? [expression(r, ['NotIn', 'DoesNotExist'])] : [])] } }
          : kind === 3 ? { namespaces: [`ns${Math.floor(r() * 12)}`, `ns${Math.floor(r() * 12)}`] }
            : { namespaceSelector: { matchLabels: ml(1), matchExpressions: [{ key: pick(r, keys), operator: 'Exists' }] } };
    return tenant(name, spec, gen);
  }
  function expression(r: () => number, operators: readonly ('In' | 'NotIn' | 'Exists' | 'DoesNotExist')[]) {
    const key = pick(r, keys);
    const operator = pick(r, operators);
    return operator === 'Exists' || operator === 'DoesNotExist' ? { key, operator } : { key, operator, values: [pick(r, values)] };
  }
  const randomLabels = (r: () => number) => Object.fromEntries(keys.filter(() => r() < 0.6).map((k) => [k, pick(r, values)]));

  for (let seed = 1; seed <= 40; seed++) {
    it(`agrees with evaluating every tenant (seed ${seed})`, () => {
      const r = rand(seed);
      const ix = new MembershipIndex();
      const tenants = new Map<string, ReturnType<typeof tenant>>();
      const nss = new Map<string, Record<string, string>>();
      for (let step = 0; step < 120; step++) {
        const op = r();
        if (op < 0.25) { const t = randomTenant(r, `t${Math.floor(r() * 8)}`, step + 1); tenants.set(t.name, t); ix.setTenant(t); }
        else if (op < 0.3) { const n = `t${Math.floor(r() * 8)}`; tenants.delete(n); ix.deleteTenant(n); }
        else if (op < 0.9) { const n = `ns${Math.floor(r() * 12)}`; const l = randomLabels(r); nss.set(n, l); ix.setNamespace(n, l); }
        else { const n = `ns${Math.floor(r() * 12)}`; nss.delete(n); ix.deleteNamespace(n); }
        for (const [n, l] of nss) {
          const want = [...tenants.values()].filter((t) => MembershipIndex.claims(t, n, l)).map((t) => t.name).sort();
          expect(ix.claimantsOf(n), `${n} at step ${step}`).toEqual(want);
        }
      }
    });
  }
});

describe('MembershipIndex memory', () => {
  it('keeps nothing of a deleted tenant, and a tenant recreated under its name never repeats a version', () => {
    const ix = index();
    ix.setNamespace('a1', { tenant: 'acme' });
    const sizes = (): number[] => {
      const maps = ix as unknown as Record<'claimedByTenant' | 'claimedSorted' | 'membersSorted' | 'versions', Map<string, unknown>>;
      return [maps.claimedByTenant.size, maps.claimedSorted.size, maps.membersSorted.size, maps.versions.size];
    };
    ix.claimedBy('acme'); ix.membersOf('acme');
    const before = sizes();
    const remembered = ix.version('acme');
    for (let i = 0; i < 100; i++) {
      const t = tenant(`gone-${i}`, { namespaceSelector: { matchLabels: { tenant: 'acme' } } });
      ix.setTenant(t);
      expect(ix.claimedBy(t.name)).toEqual(['a1']);
      ix.membersOf(t.name);
      ix.deleteTenant(t.name);
      // What a delete handler's fan-out asks after the delete leaves nothing behind either.
      expect(ix.claimedBy(t.name)).toEqual([]);
      expect(ix.membersOf(t.name)).toEqual([]);
    }
    ix.membersOf('acme'); ix.claimedBy('acme');
    expect(sizes()).toEqual(before);
    ix.deleteTenant('acme');
    ix.setTenant(acme);
    expect(ix.version('acme')).not.toBe(remembered);
    expect(ix.claimedBy('acme')).toEqual(['a1']);
  });
});
