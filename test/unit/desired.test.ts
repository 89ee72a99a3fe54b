import { describe, expect, it } from 'vitest';
import type { ValidTenant } from '../../src/api/schema.ts';
import { planNamespace, policiesToApply, ownerReference, type NamespacePlan } from '../../src/policy/desired.ts';
import type { NetworkPolicy, NetworkPolicyPeer } from '../../src/policy/types.ts';
import { tenant } from './fixtures.ts';

const MANAGED_BY = 'app.kubernetes.io/managed-by';
const TENANT = 'isolation.tenancy.dev/tenant';
const NAME_KEY = 'kubernetes.io/metadata.name';
const CONFLICT = 'isolation.tenancy.dev/conflicting-tenants';

const SEL = { namespaceSelector: { matchLabels: { tenant: 'acme' } } };
const acme = tenant('acme', SEL);

/** The policies a plan holds (what Enforce would write); an unclaimed plan holds none. */
const planned = (p: NamespacePlan): NetworkPolicy[] => (p.kind === 'unclaimed' ? [] : p.policies);

const members = (map: Record<string, string[]>) => (t: string): readonly string[] => map[t] ?? [];

function plan(t: ValidTenant, namespace = 'a1', memberList: string[] = ['a1', 'a2']) {
  const p = planNamespace(namespace, [t], members({ [t.name]: memberList }));
  if (p.kind !== 'member') throw new Error(`expected a member plan, got ${p.kind}`);
  return p;
}
const byName = (ps: NetworkPolicy[], name: string): NetworkPolicy | undefined => ps.find((p) => p.metadata.name === name);
const must = (ps: NetworkPolicy[], name: string): NetworkPolicy => {
  const p = byName(ps, name);
  if (!p) throw new Error(`no policy ${name} among ${ps.map((x) => x.metadata.name).join(', ')}`);
  return p;
};
const peersOf = (p: NetworkPolicy): NetworkPolicyPeer[] => [
  ...(p.spec.ingress ?? []).flatMap((r) => r.from ?? []),
  ...(p.spec.egress ?? []).flatMap((r) => r.to ?? []),
];

describe('planNamespace for a member of one Enforce tenant', () => {
  const p = plan(acme);

  it('writes default-deny first, then DNS and intra-tenant, with exact names', () => {
    expect(p.policies.map((x) => x.metadata.name)).toEqual([
      'tenant-isolation-default-deny', 'tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant',
    ]);
    expect(policiesToApply(p)).toEqual(p.policies);
  });

  it('labels every policy as managed by the operator for this tenant, in this namespace', () => {
    for (const pol of p.policies) {
      expect(pol.apiVersion).toBe('networking.k8s.io/v1');
      expect(pol.kind).toBe('NetworkPolicy');
      expect(pol.metadata.namespace).toBe('a1');
      expect(pol.metadata.labels).toEqual({ [MANAGED_BY]: 'tenant-isolation-operator', [TENANT]: 'acme' });
      expect(pol.metadata.annotations?.[CONFLICT]).toBeUndefined();
    }
  });

  it('makes the tenant the controlling owner of every policy', () => {
    for (const pol of p.policies) {
      expect(pol.metadata.ownerReferences).toEqual([{
        apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', name: 'acme', uid: 'uid-acme',
        controller: true, blockOwnerDeletion: true,
      }]);
    }
  });

  it('default-deny selects every pod and denies both directions', () => {
    expect(must(p.policies, 'tenant-isolation-default-deny').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  it('intra-tenant peers are the member namespaces by their immutable name label, sorted, the namespace itself included', () => {
    const q = planNamespace('a3', [acme], members({ acme: ['a2', 'a1'] }));
    if (q.kind !== 'member') throw new Error('member plan expected');
    const peer = { namespaceSelector: { matchExpressions: [{ key: NAME_KEY, operator: 'In', values: ['a1', 'a2', 'a3'] }] } };
    expect(must(q.policies, 'tenant-isolation-allow-intra-tenant').spec).toEqual({
      podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{ from: [peer] }], egress: [{ to: [peer] }],
    });
  });

  it('does not list the namespace twice when it already is a member', () => {
    const peer = peersOf(must(p.policies, 'tenant-isolation-allow-intra-tenant'))[0]!;
    expect(peer.namespaceSelector?.matchExpressions?.[0]?.values).toEqual(['a1', 'a2']);
  });

  it('a namespace carrying a forged tenant label is no peer: selectors only use kubernetes.io/metadata.name', () => {
    // The index decides membership; a non-member with `tenant: acme` is simply not in the list.
    const q = planNamespace('a1', [acme], members({ acme: ['a1'] }));
    if (q.kind !== 'member') throw new Error('member plan expected');
    const intraPeers = peersOf(must(q.policies, 'tenant-isolation-allow-intra-tenant'));
    expect(intraPeers).toHaveLength(2); // one ingress, one egress
    for (const peer of intraPeers) expect(peer.namespaceSelector?.matchExpressions?.[0]?.values).toEqual(['a1']);
    for (const pol of q.policies) {
      for (const peer of peersOf(pol)) {
        const keys = [...Object.keys(peer.namespaceSelector?.matchLabels ?? {}), ...(peer.namespaceSelector?.matchExpressions ?? []).map((e) => e.key)];
        expect(keys.every((k) => k === NAME_KEY), `${pol.metadata.name} uses ${keys.join(',')}`).toBe(true);
        // Only the DNS peer may select pods, and only by the declared DNS pod labels.
        if (peer.podSelector) expect(pol.metadata.name).toBe('tenant-isolation-allow-dns');
      }
    }
  });

  it('DNS egress goes to the DNS pods in the DNS namespace selected by name, on the DNS ports', () => {
    expect(must(p.policies, 'tenant-isolation-allow-dns').spec).toEqual({
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{
        to: [{ namespaceSelector: { matchLabels: { [NAME_KEY]: 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
        ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
      }],
    });
  });

  it('DNS egress follows a custom DNS namespace, pod selector and ports, and adds each ipBlock as a peer', () => {
    const t = tenant('acme', {
      ...SEL,
      dns: {
        namespace: 'dns', podSelector: { matchLabels: { app: 'coredns' } }, ports: [{ protocol: 'UDP', port: 5353 }],
        ipBlocks: [{ cidr: '169.254.20.10/32' }, { cidr: '10.96.0.0/16', except: ['10.96.1.0/24'] }],
      },
    });
    const dns = must(plan(t).policies, 'tenant-isolation-allow-dns');
    expect(dns.spec.egress).toEqual([{
      to: [
        { namespaceSelector: { matchLabels: { [NAME_KEY]: 'dns' } }, podSelector: { matchLabels: { app: 'coredns' } } },
        { ipBlock: { cidr: '169.254.20.10/32' } },
        { ipBlock: { cidr: '10.96.0.0/16', except: ['10.96.1.0/24'] } },
      ],
      ports: [{ protocol: 'UDP', port: 5353 }],
    }]);
  });

  it('has no allow-extra policy when nothing is declared', () => {
    expect(byName(p.policies, 'tenant-isolation-allow-extra')).toBeUndefined();
  });
});

describe('planNamespace direction handling', () => {
  it('an ingress-only tenant has no DNS policy and no Egress policyType anywhere', () => {
    const t = tenant('acme', { ...SEL, defaultDeny: { egress: false }, allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' } }], ingressFrom: [{ podSelector: { matchLabels: { app: 'lb' } } }] } });
    const ps = plan(t).policies;
    expect(ps.map((x) => x.metadata.name)).toEqual(['tenant-isolation-default-deny', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-allow-extra']);
    for (const pol of ps) {
      expect(pol.spec.policyTypes).toEqual(['Ingress']);
      expect(pol.spec.egress).toBeUndefined();
    }
  });

  it('an egress-only tenant keeps DNS and has no Ingress policyType anywhere', () => {
    const t = tenant('acme', { ...SEL, defaultDeny: { ingress: false }, allow: { ingressFrom: [{ podSelector: { matchLabels: { app: 'lb' } } }] } });
    const ps = plan(t).policies;
    expect(ps.map((x) => x.metadata.name)).toEqual(['tenant-isolation-default-deny', 'tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant']);
    for (const pol of ps) {
      expect(pol.spec.policyTypes).toEqual(['Egress']);
      expect(pol.spec.ingress).toBeUndefined();
    }
  });

  it('a tenant denying nothing writes no policy at all', () => {
    const t = tenant('acme', { ...SEL, defaultDeny: { ingress: false, egress: false }, allow: { ingressFrom: [{ podSelector: {} }] } });
    const p = plan(t);
    expect(p.policies).toEqual([]);
    expect(policiesToApply(p)).toEqual([]);
  });

  it('DNS disabled drops only the DNS policy', () => {
    const ps = plan(tenant('acme', { ...SEL, dns: { enabled: false } })).policies;
    expect(ps.map((x) => x.metadata.name)).toEqual(['tenant-isolation-default-deny', 'tenant-isolation-allow-intra-tenant']);
  });

  it('intraTenant disabled drops only the intra-tenant policy', () => {
    const ps = plan(tenant('acme', { ...SEL, intraTenant: { enabled: false } })).policies;
    expect(ps.map((x) => x.metadata.name)).toEqual(['tenant-isolation-default-deny', 'tenant-isolation-allow-dns']);
  });
});

describe('planNamespace declared allow rules', () => {
  const t = tenant('acme', {
    ...SEL,
    allow: {
      ingressFrom: [
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } }, ports: [{ port: 8080 }] },
        { podSelector: { matchLabels: { role: 'scraper' } }, namespaceSelector: { matchLabels: { team: 'mon' } } },
      ],
      egressTo: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] }, ports: [{ protocol: 'TCP', port: 443 }, { port: 8000, endPort: 8100 }] }],
    },
  });
  const extra = must(plan(t).policies, 'tenant-isolation-allow-extra');

  it('writes allow-extra last with one rule per entry, each with its own peer and ports', () => {
    expect(plan(t).policies.at(-1)?.metadata.name).toBe('tenant-isolation-allow-extra');
    expect(extra.spec).toEqual({
      podSelector: {},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
        { from: [{ namespaceSelector: { matchLabels: { team: 'mon' } }, podSelector: { matchLabels: { role: 'scraper' } } }] },
      ],
      egress: [
        { to: [{ ipBlock: { cidr: '203.0.113.0/24', except: ['203.0.113.7/32'] } }], ports: [{ protocol: 'TCP', port: 443 }, { protocol: 'TCP', port: 8000, endPort: 8100 }] },
      ],
    });
  });

  it('an entry without ports has no ports key (all ports), not an empty list', () => {
    expect(extra.spec.ingress?.[1]).not.toHaveProperty('ports');
  });

  it('only egress entries give an Egress-only allow-extra', () => {
    const e = must(plan(tenant('acme', { ...SEL, allow: { egressTo: [{ ipBlock: { cidr: '10.0.0.0/8' } }] } })).policies, 'tenant-isolation-allow-extra');
    expect(e.spec.policyTypes).toEqual(['Egress']);
    expect(e.spec.ingress).toBeUndefined();
  });
});

describe('planNamespace for a conflict', () => {
  const zeta = tenant('zeta', { namespaces: ['shared'] });
  const beta = tenant('beta', { namespaces: ['shared'] });
  const auditor = tenant('alpha', { namespaces: ['shared'], mode: 'Audit' });
  const membersMap = members({ zeta: ['z1'], beta: ['b1'], alpha: ['x1'] });

  it('a namespace claimed by two tenants gets only a fail-closed default-deny', () => {
    const p = planNamespace('shared', [zeta, beta], membersMap);
    expect(p.kind).toBe('conflict');
    expect(planned(p)).toHaveLength(1);
    const deny = planned(p)[0]!;
    expect(deny.metadata.name).toBe('tenant-isolation-default-deny');
    expect(deny.metadata.namespace).toBe('shared');
    expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(policiesToApply(p)).toEqual(planned(p));
  });

  it('the conflict deny is owned by every enforcing tenant, sorted, with controller only on the first', () => {
    const p = planNamespace('shared', [zeta, beta], membersMap);
    expect(p.kind === 'conflict' && p.tenants.map((t) => t.name)).toEqual(['beta', 'zeta']);
    const deny = planned(p)[0]!;
    expect(deny.metadata.ownerReferences).toEqual([ownerReference(beta, true), ownerReference(zeta, false)]);
    expect(deny.metadata.ownerReferences?.every((o) => o.blockOwnerDeletion === true && o.kind === 'TenantIsolation' && o.apiVersion === 'isolation.tenancy.dev/v1alpha1')).toBe(true);
    expect(deny.metadata.labels).toEqual({ [MANAGED_BY]: 'tenant-isolation-operator', [TENANT]: 'beta' });
  });

  it('the conflict annotation lists all claimants, Audit ones included, while only Enforce ones own the policy', () => {
    const p = planNamespace('shared', [zeta, auditor, beta], membersMap);
    const deny = planned(p)[0]!;
    expect(deny.metadata.annotations).toEqual({ [CONFLICT]: 'alpha,beta,zeta' });
    expect(deny.metadata.ownerReferences?.map((o) => [o.name, o.controller])).toEqual([['beta', true], ['zeta', false]]);
  });

  it('a conflict where every claimant is in Audit mode writes nothing', () => {
    const p = planNamespace('shared', [auditor, tenant('audit2', { namespaces: ['shared'], mode: 'Audit' })], membersMap);
    expect(p.kind).toBe('conflict');
    expect(planned(p)).toEqual([]);
    expect(policiesToApply(p)).toEqual([]);
  });
});

describe('planNamespace for Audit and unclaimed namespaces', () => {
  it('an Audit member plans what Enforce would write but applies nothing', () => {
    const audit = tenant('acme', { ...SEL, mode: 'Audit' });
    const p = plan(audit);
    expect(policiesToApply(p)).toEqual([]);
    expect(planned(p).map((x) => ({ name: x.metadata.name, spec: x.spec }))).toEqual(plan(acme).policies.map((x) => ({ name: x.metadata.name, spec: x.spec })));
  });

  it('an unclaimed namespace plans and applies nothing', () => {
    const p = planNamespace('free', [], members({}));
    expect(p).toEqual({ kind: 'unclaimed', namespace: 'free' });
    expect(policiesToApply(p)).toEqual([]);
  });
});
