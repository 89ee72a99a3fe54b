// Never two leaders: a leader cut off from the apiserver (a paused proxy is its only way there) stops
// writing by its renew deadline, before a standby can acquire the lease, and nothing it sent is
// delivered when the network heals. Writes are counted from the apiserver's own view: every object the
// operator writes for the tenant, with its resourceVersion (the etcd revision of its last write),
// compared with the revision at which the standby acquired the lease.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { LeaderElector, restLeaseStore, type Lease } from '../../src/kube/leader-election.ts';
import { RestClient } from '../../src/kube/rest.ts';
import { LABEL_ISOLATED, LABEL_MEMBER_OF, LABEL_TENANT } from '../../src/policy/labels.ts';
import { OPERATOR_NAMESPACE, applyTenant, createNamespace, eventually, operatorKubeconfig, rest, startTestOperator, unique } from '../harness/cluster.ts';
import { startPausingProxy } from '../harness/proxy.ts';
import { tempDirs } from '../harness/tmp.ts';

const LEASE = { leaseDurationMs: 8_000, renewDeadlineMs: 5_000, retryPeriodMs: 1_000 };
const log = pino({ level: process.env.TIO_TEST_LOG ?? 'silent' });
const tmp = tempDirs();

interface Obj { metadata: { name: string; namespace?: string; resourceVersion: string; labels?: Record<string, string> }; involvedObject?: { name: string } }
const rv = (o: { metadata: { resourceVersion?: string } }): bigint => BigInt(o.metadata.resourceVersion ?? '0');

/** The operator's kubeconfig with the server replaced by the proxy (same CA: the proxy passes TLS through). */
function kubeconfigVia(port: number): { file: string; target: URL } {
  const cfg = JSON.parse(readFileSync(operatorKubeconfig(), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  const target = new URL(cfg.clusters[0]!.cluster.server);
  cfg.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`;
  const file = join(tmp.make('tio-proxy-'), 'kubeconfig');
  writeFileSync(file, JSON.stringify(cfg), { mode: 0o600 });
  return { file, target };
}

describe('leader election under a network partition', () => {
  it('the old leader makes no write after the standby acquired the lease, and stops at its renew deadline', async () => {
    const target = new URL(kubeconfigVia(0).target);
    const proxy = await startPausingProxy({ host: target.hostname, port: Number(target.port) });
    const { file } = kubeconfigVia(proxy.port);
    const id = unique('tio-fence');
    const t = unique('t-fence');
    const r = await rest();

    let lostAt: number | undefined;
    const a = await startTestOperator({ kubeconfig: file, 'leader-elect': true, 'leader-election-id': id, concurrency: 4 },
      { leaseTimings: LEASE, onLostLease: () => { lostAt = performance.now(); } });
    let killed: Promise<void> | undefined;
    const stopA = (): Promise<void> => (killed ??= a.kill()); // like the exit of its process
    const standbyRest = await RestClient.create(loadKubeConfig(operatorKubeconfig()));
    const standbyId = `standby-${id}`;
    // The standby is a bare elector (it writes nothing else): the revision of its first lease write is
    // the moment it acquired.
    const store = restLeaseStore(standbyRest, OPERATOR_NAMESPACE, id);
    let acquiredRv: bigint | undefined;
    const b = new LeaderElector({
      ...store,
      update: async (l, signal) => { const w = await store.update(l, signal); acquiredRv ??= rv(w); return w; },
    }, log, { namespace: OPERATOR_NAMESPACE, name: id, identity: standbyId, ...LEASE });
    const watch = new AbortController();
    // Enough namespaces that the leader is mid-burst when the partition starts.
    const names = Array.from({ length: 80 }, (_, i) => `${t}-${i}`);
    try {
      await a.leading;
      await Promise.all(names.map((n) => createNamespace(n, { tenant: t })));
      let acquiredAt: number | undefined;
      b.run(() => { acquiredAt = performance.now(); }, () => undefined);

      // Partition as soon as the first of this tenant's policies exists.
      let pausedAt: number | undefined;
      const list = await r.get<{ metadata: { resourceVersion: string } }>('/apis/networking.k8s.io/v1/networkpolicies', { labelSelector: `${LABEL_TENANT}=${t}` });
      void r.watch('/apis/networking.k8s.io/v1/networkpolicies', { labelSelector: `${LABEL_TENANT}=${t}`, resourceVersion: list.metadata.resourceVersion }, () => {
        if (pausedAt === undefined) { proxy.pause(); pausedAt = performance.now(); }
      }, watch.signal).catch(() => undefined);
      await applyTenant(t, { namespaceSelector: { matchLabels: { tenant: t } } });
      await eventually(() => Promise.resolve(pausedAt !== undefined), 'the first policy of the tenant');

      // The standby acquires the lease once it has seen it unrenewed for a lease duration.
      await eventually(() => Promise.resolve(acquiredAt !== undefined), 'the standby to acquire the lease', 30_000);
      const lease = await r.get<Lease>(`/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/${id}`);
      expect(lease.spec.holderIdentity).toBe(standbyId);
      expect(lease.spec.leaseTransitions).toBe(1);
      // The partition heals; the old leader sees it lost (if it had not stopped already) and exits.
      proxy.resume();
      await eventually(() => Promise.resolve(lostAt !== undefined), 'the old leader to notice the lost lease', 60_000);
      await stopA();
      await eventually(() => Promise.resolve(proxy.open === 0 || undefined), 'every proxied connection to close', 30_000);

      // What the operator writes for this tenant: its policies, its namespaces' labels, its status and
      // finalizers, its Events.
      const policies = (await Promise.all(names.map((n) => r.get<{ items: Obj[] }>(`/apis/networking.k8s.io/v1/namespaces/${n}/networkpolicies`)))).flatMap((l) => l.items);
      const namespaces = await Promise.all(names.map((n) => r.get<Obj>(`/api/v1/namespaces/${n}`)));
      const tenant = await r.get<Obj>(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`);
      const events = (await r.get<{ items: Obj[] }>('/api/v1/namespaces/default/events')).items.filter((e) => e.involvedObject?.name === t);
      const written = [...policies, ...namespaces, tenant, ...events];
      const late = written.filter((o) => rv(o) > acquiredRv!).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion}`);
      const fenceMs = lostAt! - pausedAt!;
      console.log(JSON.stringify({
        objects: written.length, namespacesLabelled: namespaces.filter((n) => n.metadata.labels?.[LABEL_ISOLATED] !== undefined || n.metadata.labels?.[LABEL_MEMBER_OF] !== undefined).length,
        writtenAfterStandbyAcquired: late.length, late: late.slice(0, 5),
        pauseToFenceMs: Math.round(fenceMs), pauseToStandbyAcquiredMs: Math.round(acquiredAt! - pausedAt!), droppedBytes: proxy.droppedBytes,
      }));
      expect(late).toEqual([]);
      // The leader stopped by its renew deadline (measured from the last renew before the partition:
      // at most the deadline after the pause), before the standby acquired the lease.
      expect(fenceMs).toBeLessThan(LEASE.renewDeadlineMs + 1_000);
      expect(lostAt!).toBeLessThan(acquiredAt!);
      // Not vacuous: the partition cut the leader off mid-burst, so some namespaces stayed unisolated.
      expect(policies.length).toBeGreaterThan(0);
      expect(policies.length).toBeLessThan(names.length * 3);
    } finally {
      watch.abort();
      await b.stop(false);
      standbyRest.close();
      await stopA();
      await proxy.close();
      // No operator is left to finish this tenant: take it and its namespaces away by hand, so that the
      // next file's operator has nothing of ours to do.
      await Promise.all(names.map((n) => r.delete(`/api/v1/namespaces/${n}`).catch(() => undefined)));
      await r.mergePatch(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`, { metadata: { finalizers: null } }, 'tests').catch(() => undefined);
      await r.delete(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${t}`).catch(() => undefined);
    }
  }, 120_000);
});
