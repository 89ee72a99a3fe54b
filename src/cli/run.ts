// `tenant-isolation run`: builds clients, wires the manager, serves metrics and health, and drains
// on SIGTERM. No logic of its own.
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { loadKubeConfig } from '../kube/config.ts';
import { RestClient, resourceOf } from '../kube/rest.ts';
import { OperatorMetrics } from '../metrics/metrics.ts';
import { healthServer, listen, metricsServer, type SecureMetrics } from '../metrics/server.ts';
import { DelegatedAccess } from '../metrics/auth.ts';
import { ServingCertificate } from '../metrics/certificate.ts';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { Manager } from '../controller/manager.ts';
import { RESERVED_NAMESPACES } from '../api/schema.ts';
import { DEFAULT_OPERATOR_NAMESPACE } from '../admission/policies.ts';
import { DEFAULT_LEASE, LeaderElector, restLeaseStore } from '../kube/leader-election.ts';
import { leaseTimings, type RunFlags } from './flags.ts';
import { HeapRelief } from '../runtime/heap-relief.ts';

export interface RunningOperator {
  manager: Manager;
  metrics: OperatorMetrics;
  rest: RestClient;
  elector: LeaderElector | undefined;
  /** The port /metrics listens on (useful with a bind address of port 0); undefined when disabled. */
  metricsPort: number | undefined;
  /** Resolves when this instance leads (at once without leader election). */
  leading: Promise<void>;
  /** Graceful: release the lease, drain in-flight reconciles, stop watches. */
  stop(): Promise<void>;
  /** Like a crash: stop everything without releasing the lease. */
  kill(): Promise<void>;
}

export interface StartOptions {
  processMetrics?: boolean;
  leaseTimings?: Partial<typeof DEFAULT_LEASE>;
  /**
   * Called at once when the lease is lost, after the write fence closed (every later write of this
   * instance throws before reaching a socket; writes in flight are reset). `run` exits the process, as
   * controller-runtime does; without it the controller is stopped in the background.
   */
  onLostLease?: () => void;
}

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** The namespace the operator runs in (and keeps its Lease in): the flag, the pod's, or the service account's. */
function operatorNamespace(flags: RunFlags): string | undefined {
  return flags['leader-election-namespace'] ?? process.env.POD_NAMESPACE
    ?? (existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : undefined);
}

function leaseNamespace(flags: RunFlags): string {
  const ns = operatorNamespace(flags);
  if (!ns) throw new Error('--leader-election-namespace: required with --leader-elect when not running in a cluster');
  return ns;
}

export function makeLogger(level: string): Logger {
  return pino({ level, base: { component: 'tenant-isolation-operator' }, timestamp: pino.stdTimeFunctions.isoTime });
}

export async function startOperator(flags: RunFlags, log: Logger, o: StartOptions = {}): Promise<RunningOperator> {
  const kc = loadKubeConfig(flags.kubeconfig);
  const rest = await RestClient.create(kc, {
    qps: flags['kube-api-qps'], burst: flags['kube-api-burst'], watchSilenceLimitMs: flags['watch-silence-limit'] * 1000,
  });
  const namespace = flags['leader-elect'] ? leaseNamespace(flags) : undefined;
  const metrics = new OperatorMetrics({ processMetrics: o.processMetrics });
  rest.onWrite((verb, path) => metrics.apiWrites.inc({ verb, resource: resourceOf(path) }));
  // Unique per instance, like client-go's hostname_uuid: two instances never mistake each other's lease.
  const identity = `${process.env.POD_NAME ?? os.hostname()}_${randomUUID()}`;
  // The operator's own namespace is never a tenant's: default-deny egress there would cut it off the apiserver.
  const own = operatorNamespace(flags);
  const manager = new Manager(rest, metrics, log, {
    concurrency: flags.concurrency, tenantConcurrency: flags['tenant-concurrency'], identity,
    resyncPeriodMs: flags['resync-period'] * 1000, isolationProof: flags['isolation-proof'],
    reservedNamespaces: [...new Set([...RESERVED_NAMESPACES, ...(own ? [own] : []), ...flags['reserved-namespaces']])],
    // Outside a cluster without --leader-election-namespace: where config/ installs it.
    operatorNamespace: own ?? DEFAULT_OPERATOR_NAMESPACE,
  });
  const leaseName = flags['leader-election-id'];
  // Its own connection: lease renewals must never wait behind reconcile traffic.
  const leaseRest = namespace ? await RestClient.create(kc) : undefined;
  // The elector holds the write gate of the operator's client: no write before the lease is won, none
  // after the renew deadline, and writes in flight reset when leadership ends.
  const elector = namespace && leaseRest
    ? new LeaderElector(restLeaseStore(leaseRest, namespace, leaseName), log, { namespace, name: leaseName, identity, ...leaseTimings(flags), ...o.leaseTimings }, rest)
    : undefined;
  metrics.leaderStatus.set({ name: leaseName }, 0);
  let lost = false;
  // Its own connections too: reviews of /metrics clients never take the sockets reconciles write through.
  const reviewRest = await RestClient.create(kc);
  const metricsListener = await listen(metricsServer(metrics.registry, secureMetrics(flags, reviewRest, log)), flags['metrics-bind-address']);
  const servers = [
    metricsListener,
    await listen(healthServer({
      healthz: () => (lost ? 'lost the leader lease' : undefined),
      // A synced standby is ready: it takes over with warm caches.
      readyz: () => (manager.synced ? undefined : 'informer caches not synced'),
    }), flags['health-probe-bind-address']),
  ];
  await manager.startCaches();
  let resolveLeading: () => void = () => undefined;
  const leading = new Promise<void>((r) => { resolveLeading = r; });
  // Once stopping, a lease won meanwhile (a standby while the old leader releases it) starts nothing.
  let stopping = false;
  if (elector) {
    elector.run(() => {
      if (stopping) return;
      metrics.leaderStatus.set({ name: leaseName }, 1);
      manager.startWorkers();
      resolveLeading();
    }, () => {
      // Writes are fenced already (the elector closed the gate before calling this).
      lost = true;
      metrics.leaderStatus.set({ name: leaseName }, 0);
      if (o.onLostLease) o.onLostLease();
      void manager.stop();
    });
  } else {
    metrics.leaderStatus.set({ name: leaseName }, 1);
    manager.startWorkers();
    resolveLeading();
  }
  const closeServers = (): Promise<unknown> => Promise.all(servers.filter((s) => s !== undefined).map((s) => new Promise<void>((r) => { s.close(() => r()); })));
  return {
    manager, metrics, rest, elector, leading,
    metricsPort: (metricsListener?.address() as AddressInfo | null)?.port,
    async stop() {
      stopping = true;
      await manager.stop();
      await elector?.stop(true);
      await closeServers();
      rest.close(); leaseRest?.close(); reviewRest.close();
    },
    async kill() {
      stopping = true;
      await elector?.stop(false);
      await manager.stop();
      await closeServers();
      rest.close(); leaseRest?.close(); reviewRest.close();
    },
  };
}

/** HTTPS with apiserver-delegated authentication and authorization, unless --metrics-secure=false. */
function secureMetrics(flags: RunFlags, rest: RestClient, log: Logger): SecureMetrics | undefined {
  if (!flags['metrics-secure'] || flags['metrics-bind-address'] === '0') return undefined;
  const dir = flags['metrics-cert-path'];
  const certificate = dir
    ? ServingCertificate.fromDir(dir, flags['metrics-cert-name'], flags['metrics-cert-key'], (e) => log.error({ err: e.message }, 'metrics certificate not reloaded; serving the previous one'))
    : ServingCertificate.selfSigned();
  certificate.onChange(() => log.info({ certificate: certificate.description }, 'metrics certificate reloaded'));
  log.info({ certificate: certificate.description }, 'metrics served over HTTPS to clients authorized for GET /metrics');
  return {
    certificate, access: new DelegatedAccess(rest),
    onError: (message, cause) => log.error({ err: cause instanceof Error ? cause.message : String(cause) }, message),
  };
}

export async function runCommand(flags: RunFlags): Promise<void> {
  const log = makeLogger(flags['log-level']);
  const op = await startOperator(flags, log, {
    // At once, without draining: in-flight reconciles could only fail against the fence.
    onLostLease: () => { log.error('leader lease lost: exiting so a fresh process rejoins the election'); process.exit(1); },
  });
  // V8 runs with its default (fast) collector; after each burst of work the free heap goes back to the
  // OS (src/runtime/heap-relief.ts says why this beats --optimize-for-size).
  const relief = new HeapRelief({
    busy: () => op.manager.busy,
    onRelief: (r) => {
      op.metrics.heapReliefs.inc();
      log.debug({ beforeMB: Math.round(r.beforeBytes / 2 ** 20), afterMB: Math.round(r.afterBytes / 2 ** 20), ms: Math.round(r.ms) }, 'returned free heap after a burst');
    },
  });
  relief.start();
  log.info({ concurrency: flags.concurrency }, 'operator running');
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining: finishing in-flight reconciles');
    const force = setTimeout(() => { log.error('drain timed out after 25s'); process.exit(1); }, 25_000);
    force.unref();
    op.stop().then(() => { log.info('stopped'); process.exit(0); }, (e: unknown) => { log.error({ err: String(e) }, 'stop failed'); process.exit(1); });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
