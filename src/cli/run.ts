// `tenant-isolation run`: builds clients, wires the controller, serves metrics and health, and drains
// on SIGTERM. No logic of its own.
import os from 'node:os';
import { pino, type Logger } from 'pino';
import { loadKubeConfig } from '../kube/config.ts';
import { RestClient } from '../kube/rest.ts';
import { OperatorMetrics } from '../metrics/metrics.ts';
import { healthServer, listen, metricsServer } from '../metrics/server.ts';
import { TenantIsolationController } from '../controller/controller.ts';
import type { RunFlags } from './flags.ts';

export interface RunningOperator {
  controller: TenantIsolationController;
  metrics: OperatorMetrics;
  rest: RestClient;
  stop(): Promise<void>;
}

export function makeLogger(level: string): Logger {
  return pino({ level, base: { component: 'tenant-isolation-operator' }, timestamp: pino.stdTimeFunctions.isoTime });
}

export async function startOperator(flags: RunFlags, log: Logger, o: { processMetrics?: boolean } = {}): Promise<RunningOperator> {
  const kc = loadKubeConfig(flags.kubeconfig);
  const rest = await RestClient.create(kc);
  const metrics = new OperatorMetrics({ processMetrics: o.processMetrics });
  rest.onWrite((verb) => metrics.apiWrites.inc({ verb }));
  const identity = process.env.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  const controller = new TenantIsolationController(kc, rest, metrics, log, {
    concurrency: flags.concurrency, identity, resyncPeriodMs: flags['resync-period'] * 1000,
  });
  const servers = [
    await listen(metricsServer(metrics.registry), flags['metrics-bind-address']),
    await listen(healthServer({
      healthz: () => undefined,
      readyz: () => (controller.synced ? undefined : 'informer caches not synced'),
    }), flags['health-probe-bind-address']),
  ];
  await controller.start();
  return {
    controller, metrics, rest,
    async stop() {
      await controller.stop();
      await Promise.all(servers.filter((s) => s !== undefined).map((s) => new Promise<void>((r) => { s.close(() => r()); })));
      rest.close();
    },
  };
}

export async function runCommand(flags: RunFlags): Promise<void> {
  const log = makeLogger(flags['log-level']);
  if (flags['leader-elect']) {
    log.warn('--leader-elect is accepted but leader election is not implemented yet: run a single replica');
  }
  const op = await startOperator(flags, log);
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
