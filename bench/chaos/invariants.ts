// The invariant checker of the chaos suite. It shares no code path with the operator: it reads the
// cluster through plain lists and derives what must hold from the documented API (docs/api.md) for the
// only specs the churn writes (claims.ts). The reachability part runs the `verify` command, a separate
// entry point, on a dump of the tenants' own policies. The operator's namespace labels are checked too:
// isolated=true where it stores policies, member-of=<tenant> on a sole enforcing tenant's members (the
// intra-tenant policies of tenants in MembershipLabel mode select it), and neither anywhere else.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RestClient } from '../../src/kube/rest.ts';
import { claims, ISOLATED, isInvalid, MANAGED_BY, MEMBER_OF, modeOf, OPERATOR, OWNER_TENANT } from './claims.ts';

const CONFLICT_ANNOTATION = 'isolation.tenancy.dev/conflicting-tenants';
const [DENY, DNS, INTRA, EXTRA] = ['tenant-isolation-default-deny', 'tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-allow-extra'];

interface Meta { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string; generation?: number }
interface Condition { type: string; status: string; reason: string; message: string }
interface Tenant {
  metadata: Meta;
  spec: { namespaceSelector?: { matchLabels?: Record<string, string> }; namespaces?: string[]; mode?: string; intraTenant?: { enabled?: boolean }; allow?: { ingressFrom?: { ports?: { port?: unknown }[] }[] } };
  status?: { observedGeneration?: number; conditions?: Condition[]; namespaces?: { name: string; state: string }[]; intraTenantPeers?: string; namespaceCounts?: Record<string, number> };
}
interface Namespace { metadata: Meta; status?: { phase?: string } }
interface Policy { metadata: Meta; spec: { podSelector?: object; policyTypes?: string[]; ingress?: { from?: { namespaceSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { values?: string[] }[] } }[] }[]; egress?: unknown[] } }

export interface CheckResult {
  checks: number;
  violations: string[];
  /** Enforcing tenants whose intra-tenant policies select the member-of label (MembershipLabel mode). */
  membershipLabelTenants: number;
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const same = (a: Iterable<string>, b: Iterable<string>): boolean => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

export async function checkInvariants(rest: RestClient, prefix: string, repo: string): Promise<CheckResult> {
  const mine = <T extends { metadata: Meta }>(xs: T[]) => xs.filter((o) => (o.metadata.namespace ?? o.metadata.name).startsWith(`${prefix}-`));
  const tenants = mine((await rest.get<{ items: Tenant[] }>('/apis/isolation.tenancy.dev/v1alpha1/tenantisolations')).items);
  const namespaces = mine((await rest.get<{ items: Namespace[] }>('/api/v1/namespaces')).items);
  const policies = mine((await rest.get<{ items: Policy[] }>('/apis/networking.k8s.io/v1/networkpolicies')).items);
  const podNamespaces = new Set(mine((await rest.get<{ items: { metadata: Meta }[] }>('/api/v1/pods')).items).map((p) => p.metadata.namespace!));
  let checks = 0;
  const violations: string[] = [];
  const expect = (ok: boolean, what: string): void => { checks++; if (!ok) violations.push(what); };

  // Deletions finish: the namespace controller empties namespaces, the operator's finalizer lets tenants go.
  for (const n of namespaces) expect(!n.metadata.deletionTimestamp, `namespace ${n.metadata.name} still terminating`);
  for (const t of tenants) expect(!t.metadata.deletionTimestamp, `tenant ${t.metadata.name} still deleting (finalizer not removed)`);
  const live = namespaces.filter((n) => !n.metadata.deletionTimestamp);
  const liveNames = new Set(live.map((n) => n.metadata.name));
  const wouldClaim = (t: Tenant, ns: Namespace) => claims(t, ns.metadata.name, ns.metadata.labels);
  const active = tenants.filter((t) => !t.metadata.deletionTimestamp);
  const valid = active.filter((t) => !isInvalid(t));
  const invalid = active.filter(isInvalid);
  const claimants = new Map(live.map((ns) => [ns.metadata.name, valid.filter((t) => wouldClaim(t, ns))]));
  const managedIn = (ns: string) => policies.filter((p) => p.metadata.namespace === ns && p.metadata.labels?.[MANAGED_BY] === OPERATOR);
  // Namespaces an invalid tenant touches are frozen (docs/api.md): their policies are not checked.
  const frozen = new Set(live.filter((ns) => invalid.some((t) => wouldClaim(t, ns))
    || managedIn(ns.metadata.name).some((p) => invalid.some((t) => p.metadata.labels?.[OWNER_TENANT] === t.metadata.name))).map((ns) => ns.metadata.name));
  const membersOf = (t: Tenant) => live.map((n) => n.metadata.name).filter((n) => claimants.get(n)?.length === 1 && claimants.get(n)![0] === t);

  for (const ns of live) {
    const name = ns.metadata.name;
    if (frozen.has(name)) continue;
    const claim = claimants.get(name)!;
    const managed = managedIn(name);
    const names = managed.map((p) => p.metadata.name);
    const enforcing = claim.filter((t) => modeOf(t) === 'Enforce');
    // The operator's labels say what it has done here, and nothing more.
    const labels = ns.metadata.labels ?? {};
    const member = claim.length === 1 && enforcing.length === 1 ? enforcing[0]!.metadata.name : undefined;
    const isolated = member !== undefined || (claim.length >= 2 && enforcing.length > 0) ? 'true' : undefined;
    expect(labels[MEMBER_OF] === member, `${name}: labelled ${MEMBER_OF}=${labels[MEMBER_OF]}, ${member ? `a member of ${member}` : 'no enforcing tenant\'s sole member'}`);
    expect(labels[ISOLATED] === isolated, `${name}: labelled ${ISOLATED}=${labels[ISOLATED]}, should ${isolated ? '' : 'not '}be (${claim.length === 0 ? 'no tenant claims it' : claim.length > 1 ? 'a conflict' : `tenant ${claim[0]!.metadata.name}, ${modeOf(claim[0]!)}`})`);
    if (claim.length === 0 || (claim.length === 1 && enforcing.length === 0)) {
      expect(managed.length === 0, `${name}: ${claim.length === 0 ? 'no tenant claims it' : 'its tenant is in Audit'}, yet it holds ${names.join(', ')}`);
      continue;
    }
    if (claim.length >= 2) {
      if (enforcing.length === 0) continue; // a conflict among Audit tenants only: not specified
      expect(same(names, [DENY]), `${name}: conflict (${claim.map((t) => t.metadata.name).join(', ')}) must hold only ${DENY}, holds ${names.join(', ')}`);
      const deny = managed.find((p) => p.metadata.name === DENY);
      expect(deny?.metadata.annotations?.[CONFLICT_ANNOTATION] !== undefined, `${name}: conflict default-deny lacks ${CONFLICT_ANNOTATION}`);
      if (deny) expect(!deny.spec.ingress?.length && !deny.spec.egress?.length, `${name}: conflict default-deny allows something`);
      continue;
    }
    const t = claim[0]!;
    const want = [DENY, DNS, ...(t.spec.intraTenant?.enabled === false ? [] : [INTRA]), ...(t.spec.allow?.ingressFrom?.length ? [EXTRA] : [])];
    expect(same(names, want), `${name}: tenant ${t.metadata.name} wants ${want.join(', ')}, holds ${names.join(', ')}`);
    for (const p of managed) expect(p.metadata.labels?.[OWNER_TENANT] === t.metadata.name, `${name}/${p.metadata.name}: labelled for ${p.metadata.labels?.[OWNER_TENANT]}, not ${t.metadata.name}`);
    const deny = managed.find((p) => p.metadata.name === DENY);
    if (deny) {
      expect(same(deny.spec.policyTypes ?? [], ['Ingress', 'Egress']) && !deny.spec.ingress?.length && !deny.spec.egress?.length, `${name}: default-deny does not deny both directions (tampered and not restored?)`);
    }
    const intra = managed.find((p) => p.metadata.name === INTRA);
    // A namespace an invalid tenant touches may count as the other tenant's or not: peers then unchecked.
    const touchesFrozen = live.some((n) => frozen.has(n.metadata.name) && wouldClaim(t, n));
    if (intra && !touchesFrozen) {
      // Peers are named (NamespaceNames) or selected by the operator-only member label (MembershipLabel).
      const selector = intra.spec.ingress?.[0]?.from?.[0]?.namespaceSelector;
      const byLabel = selector?.matchLabels;
      const peers = byLabel
        ? live.filter((n) => Object.entries(byLabel).every(([k, v]) => n.metadata.labels?.[k] === v)).map((n) => n.metadata.name)
        : selector?.matchExpressions?.[0]?.values ?? [];
      expect(same(peers, membersOf(t)), `${name}: intra-tenant peers ${sorted(peers).join(',')} != members ${sorted(membersOf(t)).join(',')}`);
    }
  }

  // Status tells the truth.
  for (const t of active) {
    const tn = t.metadata.name;
    const cond = (type: string) => t.status?.conditions?.find((c) => c.type === type);
    expect(t.status?.observedGeneration === t.metadata.generation, `${tn}: observedGeneration ${t.status?.observedGeneration} != generation ${t.metadata.generation}`);
    if (isInvalid(t)) {
      expect(cond('Ready')?.status === 'False' && cond('Ready')?.reason === 'InvalidSpec' && /ports\[0\]\.port/.test(cond('Ready')?.message ?? ''), `${tn}: invalid spec not reported as InvalidSpec naming the field`);
      expect(cond('Stalled')?.status === 'True', `${tn}: invalid spec but Stalled is not True`);
      continue;
    }
    const claimed = live.filter((ns) => wouldClaim(t, ns)).map((ns) => ns.metadata.name);
    const missingNamed = (t.spec.namespaces ?? []).filter((n) => !liveNames.has(n));
    const listed = (t.status?.namespaces ?? []).map((n) => n.name);
    expect(same(listed, new Set([...claimed, ...missingNamed])), `${tn}: status lists ${sorted(listed).join(',')}, claims ${sorted(new Set([...claimed, ...missingNamed])).join(',')}`);
    const counted = Object.values(t.status?.namespaceCounts ?? {}).reduce((a, b) => a + b, 0);
    expect(counted === listed.length, `${tn}: status counts ${counted} namespaces, lists ${listed.length}`);
    const conflicted = claimed.filter((n) => claimants.get(n)!.length > 1);
    if (frozen.size > 0 && claimed.some((n) => frozen.has(n))) continue;
    const ready = cond('Ready');
    if (modeOf(t) === 'Audit') {
      // AuditMode whatever the member count: an Audit tenant never reports Isolated.
      if (conflicted.length === 0) expect(ready?.status === 'True' && ready.reason === 'AuditMode', `${tn}: Audit tenant Ready=${ready?.status}/${ready?.reason}`);
      continue;
    }
    if (conflicted.length > 0) {
      expect(ready?.status === 'False' && ready.reason === 'NamespaceConflict', `${tn}: conflict on ${conflicted.join(',')} but Ready=${ready?.status}/${ready?.reason}`);
      continue;
    }
    expect(ready?.status === 'True' && ready.reason === 'Isolated', `${tn}: Ready=${ready?.status}/${ready?.reason}: ${ready?.message}`);
    for (const e of t.status?.namespaces ?? []) expect(e.state === (liveNames.has(e.name) ? 'Isolated' : 'Pending'), `${tn}: ${e.name} is ${e.state}`);
    // The proof: a user's allow-all ingress in a member namespace with a pod is a breach, and nothing
    // else is (the churn's other user policy selects app=web, and its pods are app=api).
    const allowAll = membersOf(t).some((n) => podNamespaces.has(n) && policies.some((p) => p.metadata.namespace === n && p.metadata.labels?.[MANAGED_BY] !== OPERATOR
      && (p.spec.ingress ?? []).some((r) => Object.keys(r).length === 0)));
    const isolated = cond('Isolated');
    expect(isolated?.status === (allowAll ? 'False' : 'True'), `${tn}: Isolated=${isolated?.status} (${isolated?.message}) though ${allowAll ? 'a member holds a user allow-all' : 'no user policy opens a member'}`);
  }

  // The analyzer, as the verify command, on the enforcing tenants and the operator's policies alone:
  // what the operator writes never leaves a path between tenants.
  const dump = [
    ...valid.filter((t) => modeOf(t) === 'Enforce').map((t) => ({ apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: t.metadata.name }, spec: t.spec })),
    ...live.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n.metadata.name, labels: n.metadata.labels } })),
    ...policies.filter((p) => p.metadata.labels?.[MANAGED_BY] === OPERATOR && !frozen.has(p.metadata.namespace!))
      .map((p) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.metadata.name, namespace: p.metadata.namespace, labels: p.metadata.labels }, spec: p.spec })),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'tio-chaos-verify-'));
  try {
    writeFileSync(join(dir, 'objects.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: dump }));
    const r = await promisify(execFile)(process.execPath, [join(repo, 'src/cli/main.ts'), 'verify', '-f', dir, '-o', 'json'], { maxBuffer: 64 * 2 ** 20 })
      .then(() => ({ code: 0, stdout: '' }), (e: { code?: number; stdout?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '' }));
    expect(r.code === 0, `verify on the operator's own policies: exit ${r.code} ${r.stdout.slice(0, 300)}`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
  return { checks, violations, membershipLabelTenants: valid.filter((t) => modeOf(t) === 'Enforce' && t.status?.intraTenantPeers === 'MembershipLabel').length };
}
