// Intra-tenant peers by the guarded member label: a join costs the same at any tenant size, switching
// between naming members and the label is safe at every intermediate state (the analyzer checks each one),
// and nobody but the operator can set the label.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import type { RunningOperator } from '../../src/cli/run.ts';
import { IsolationAnalyzer } from '../../src/analysis/analyzer.ts';
import { podInfo, type PodObject } from '../../src/controller/isolation-proof.ts';
import { ResilientInformer } from '../../src/kube/informer.ts';
import type { NamespaceObject, NetworkPolicy } from '../../src/policy/types.ts';
import {
  applyTenant, clientAs, createNamespace, createPod, eventually, getNamespace, getTenant, isolatedWith, kubectl, policies, refusal, rest,
  startTestOperator, unique, withoutMemberLabelGuard, MANAGED_POLICIES,
} from '../harness/cluster.ts';

const MEMBER_OF = 'isolation.tenancy.dev/member-of';
let op: RunningOperator;
beforeAll(async () => { op = await startTestOperator(); });
afterAll(async () => { await op.stop(); });

let restore: (() => Promise<void>) | undefined;
async function removeGuard(): Promise<void> { restore = await withoutMemberLabelGuard(); }
async function restoreGuard(): Promise<void> { await restore?.(); restore = undefined; }
const peers = async (t: string): Promise<string | undefined> => (await getTenant(t))?.status?.intraTenantPeers;
const intraPeers = async (ns: string): Promise<unknown> => (await policies(ns)).find((p) => p.metadata.name === 'tenant-isolation-allow-intra-tenant')?.spec.ingress?.[0]?.from;

describe('the member label', () => {
  it('is set on a member once isolated and refused to anyone but the operator', async () => {
    const t = unique('t-lbl');
    const [ns, stranger] = [unique('lbl'), unique('lbl-x')];
    await createNamespace(ns, { tenant: t });
    await createNamespace(stranger);
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    await isolatedWith(ns, MANAGED_POLICIES);
    await eventually(async () => (await getNamespace(ns))?.metadata.labels?.[MEMBER_OF] === t, 'the member label');
    // A namespace admin who may label their namespace still cannot claim membership through it.
    const eve = await clientAs(stranger, 'eve');
    await kubectl('create', 'clusterrole', `label-${stranger}`, '--verb=get,patch', '--resource=namespaces', `--resource-name=${stranger}`);
    await kubectl('create', 'clusterrolebinding', `label-${stranger}`, `--clusterrole=label-${stranger}`, `--serviceaccount=${stranger}:eve`);
    try {
      await eventually(async () => (await refusal(eve.mergePatch(`/api/v1/namespaces/${stranger}`, { metadata: { labels: { color: 'red' } } }, 'eve'))) === undefined, 'eve may label');
      const forged = await refusal(eve.mergePatch(`/api/v1/namespaces/${stranger}`, { metadata: { labels: { [MEMBER_OF]: t } } }, 'eve'));
      expect(forged).toContain('tenant-isolation-member-label');
      const isolated = await refusal(eve.mergePatch(`/api/v1/namespaces/${stranger}`, { metadata: { labels: { 'isolation.tenancy.dev/isolated': 'true' } } }, 'eve'));
      expect(isolated).toContain('only it sets them');
    } finally {
      eve.close();
      await kubectl('delete', 'clusterrolebinding', `label-${stranger}`);
      await kubectl('delete', 'clusterrole', `label-${stranger}`);
    }
  });
});

describe('switching between naming members and the member label', () => {
  it('never opens a path to a stranger, at any intermediate state, in either direction', async () => {
    const t = unique('t-switch');
    const members = [unique('sw-a'), unique('sw-b'), unique('sw-c')];
    const stranger = unique('sw-x');
    await removeGuard();
    for (const ns of members) await createNamespace(ns, { tenant: t });
    await createNamespace(stranger);
    // Pods first (before the tenant gates its namespaces), then the tenant.
    for (const ns of [...members, stranger]) {
      await eventually(async () => (await rest()).get(`/api/v1/namespaces/${ns}/serviceaccounts/default`).then(() => true), `${ns} ServiceAccount`, 20_000);
      await createPod(ns, 'web', { labels: { app: 'web' } });
    }
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } }, dns: { enabled: false } });
    for (const ns of members) await isolatedWith(ns, ['tenant-isolation-allow-intra-tenant', 'tenant-isolation-default-deny']);
    await eventually(async () => (await peers(t)) === 'NamespaceNames', 'peers by name');

    // Follow every namespace and policy event, and analyse the state after each one.
    const r = await rest();
    const log = pino({ level: 'silent' });
    const nss = new ResilientInformer<NamespaceObject>(r, '/api/v1/namespaces', {}, log);
    const nps = new ResilientInformer<NetworkPolicy>(r, '/apis/networking.k8s.io/v1/networkpolicies', {}, log);
    const pods = new ResilientInformer<PodObject>(r, '/api/v1/pods', {}, log);
    const involved = new Set([...members, stranger]);
    let states = 0;
    const violations: string[] = [];
    const check = (why: string): void => {
      states++;
      const analyzer = IsolationAnalyzer.fromSnapshot({
        namespaces: nss.list().filter((n) => involved.has(n.metadata.name)).map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })),
        pods: pods.list().filter((p) => involved.has(p.metadata.namespace)).map(podInfo),
        policies: nps.list().filter((p) => involved.has(p.metadata.namespace)),
      });
      for (const [src, dst] of analyzer.allowedPairs(80)) {
        const [a, b] = [src.split('/')[0]!, dst.split('/')[0]!];
        if ((a === stranger) !== (b === stranger)) violations.push(`${why}: ${src} -> ${dst}`);
      }
    };
    const onEvent = (what: string) => ({ add: () => check(`${what} added`), update: () => check(`${what} updated`), delete: () => check(`${what} deleted`) });
    for (const inf of [nss, nps, pods]) await inf.start();
    await Promise.all([nss, nps, pods].map((i) => i.waitForSync()));
    nss.on(onEvent('namespace'));
    nps.on(onEvent('policy'));
    try {
      check('start');
      // Names -> label: the members get the label, then the tenant switches and every member's policy follows.
      await restoreGuard();
      await eventually(async () => (await peers(t)) === 'MembershipLabel', 'peers by label', 20_000);
      for (const ns of members) await eventually(async () => JSON.stringify(await intraPeers(ns)).includes(MEMBER_OF), `${ns} selecting the label`);
      await op.manager.idle();
      // Label -> names: the guard goes, and every member lists the members again.
      await removeGuard();
      await eventually(async () => (await peers(t)) === 'NamespaceNames', 'peers by name again', 20_000);
      for (const ns of members) await eventually(async () => JSON.stringify(await intraPeers(ns)).includes('kubernetes.io/metadata.name'), `${ns} listing names`);
      await op.manager.idle();
    } finally {
      for (const inf of [nss, nps, pods]) await inf.stop();
      await restoreGuard();
    }
    expect(violations).toEqual([]);
    // Not vacuous: each member's intra-tenant policy changed twice (names -> label -> names), each change an event.
    expect(states).toBeGreaterThanOrEqual(1 + 2 * members.length);
    // And the members still reach each other (the switch cost no intra-tenant path).
    const final = IsolationAnalyzer.fromSnapshot({
      namespaces: await Promise.all([...involved].map(async (n) => ({ name: n, labels: (await getNamespace(n))!.metadata.labels ?? {} }))),
      pods: (await Promise.all([...involved].map(async (n) => (await r.get<{ items: PodObject[] }>(`/api/v1/namespaces/${n}/pods`)).items))).flat().map(podInfo),
      policies: (await Promise.all([...involved].map((n) => policies(n)))).flat(),
    });
    const reach = new Set(final.allowedPairs(80).map(([a, b]) => `${a}>${b}`));
    for (const a of members) for (const b of members) if (a !== b) expect(reach.has(`${a}/web>${b}/web`), `${a} -> ${b}`).toBe(true);
  });
});

describe('a tenant created with its namespaces', () => {
  it('names its members by label from the start: each member\'s policies are stored once', async () => {
    const t = unique('t-fresh');
    const members = Array.from({ length: 8 }, () => unique('fresh'));
    for (const ns of members) await createNamespace(ns, { tenant: t });
    // The guard restored by the test before must be in the operator's cache (without it, names).
    await eventually(() => Promise.resolve(op.manager.labelGuarded()), 'the member label guarded');
    await op.manager.idle();
    // Every stored change to the members' policies, as a watch sees it (a refused or repeated request is
    // no change; the operator's write counter would count it).
    const involved = new Set(members);
    const stored: string[] = [];
    const record = (what: string) => (p: NetworkPolicy): void => {
      if (!involved.has(p.metadata.namespace ?? '')) return;
      const from = p.metadata.name === 'tenant-isolation-allow-intra-tenant' ? (JSON.stringify(p.spec.ingress?.[0]?.from).includes(MEMBER_OF) ? ' by label' : ' by name') : '';
      stored.push(`${what} ${p.metadata.namespace}/${p.metadata.name}${from}`);
    };
    const nps = new ResilientInformer<NetworkPolicy>(await rest(), '/apis/networking.k8s.io/v1/networkpolicies', { add: record('added'), update: record('updated'), delete: record('deleted') }, pino({ level: 'silent' }));
    await nps.start();
    await nps.waitForSync();
    try {
      await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
      for (const ns of members) await isolatedWith(ns, MANAGED_POLICIES);
      await eventually(async () => (await peers(t)) === 'MembershipLabel', 'peers by label', 20_000);
      await op.manager.idle();
      await eventually(() => Promise.resolve(stored.length >= 3 * members.length || undefined), 'every policy seen');
    } finally {
      await nps.stop();
    }
    for (const ns of members) expect(JSON.stringify(await intraPeers(ns)), ns).toContain(MEMBER_OF);
    // Names first would have rewritten every member's intra-tenant policy as others joined, then again at
    // the switch: here each policy is added once, and never by name.
    expect(stored.filter((e) => !e.startsWith('added') || e.endsWith('by name'))).toEqual([]);
    expect(stored).toHaveLength(3 * members.length);
  });
});

describe('a join by member label', () => {
  it('costs its own policies and one label, whatever the tenant\'s size', async () => {
    const t = unique('t-join');
    const members = Array.from({ length: 12 }, () => unique('join'));
    for (const ns of members) await createNamespace(ns, { tenant: t });
    await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
    for (const ns of members) await isolatedWith(ns, MANAGED_POLICIES);
    await eventually(async () => (await peers(t)) === 'MembershipLabel', 'peers by label', 20_000);
    for (const ns of members) await eventually(async () => JSON.stringify(await intraPeers(ns)).includes(MEMBER_OF), `${ns} selecting the label`);
    await op.manager.idle();
    const count = async (resource: string): Promise<number> => (await op.metrics.apiWrites.get()).values.filter((v) => v.labels.resource === resource).reduce((s, v) => s + v.value, 0);
    const [policiesBefore, namespacesBefore] = [await count('networkpolicies'), await count('namespaces')];
    const joiner = unique('join-new');
    await createNamespace(joiner, { tenant: t });
    await isolatedWith(joiner, MANAGED_POLICIES);
    await eventually(async () => (await getNamespace(joiner))?.metadata.labels?.[MEMBER_OF] === t, 'the joiner labelled');
    await eventually(async () => (await getTenant(t))?.status?.namespaces?.length === members.length + 1, 'status listing the joiner');
    await op.manager.idle();
    expect(await count('networkpolicies') - policiesBefore).toBe(3);
    expect(await count('namespaces') - namespacesBefore).toBe(1);
  });
});
