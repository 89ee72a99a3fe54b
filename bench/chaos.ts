// Chaos run (not part of npm test; a short smoke of it is): random churn interleaved with faults (leader
// kill -9, a leader partitioned from the apiserver, SIGSTOP/SIGCONT of kube-apiserver, etcd restart,
// forced etcd compaction, every connection cut), an invariant checker at each quiet point. Prints JSON.
//   node bench/chaos.ts [--duration 600] [--seed N] [--lease 15,10,2] [--replica-log-level warn]
// Uses TIO_KUBECONFIG's cluster if set (it must be a hack/local-cluster.sh directory), else starts one.
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { cluster } from './lib.ts';
import { runChaos } from './chaos/run.ts';

const { values } = parseArgs({ options: {
  duration: { type: 'string', default: '600' },
  seed: { type: 'string', default: String(Math.floor(Math.random() * 2 ** 31)) },
  lease: { type: 'string', default: '15,10,2' },
  'replica-log-level': { type: 'string', default: 'warn' },
} });
const durationS = Number(values.duration);
if (!Number.isFinite(durationS) || durationS <= 0) throw new Error('--duration: seconds, a positive number');
const [durationLease, renewS, retryS] = values.lease.split(',').map(Number);
if (![durationLease, renewS, retryS].every((n) => Number.isFinite(n) && n! > 0)) throw new Error('--lease: lease,renew,retry in seconds, e.g. 15,10,2');

const c = await cluster();
try {
  const report = await runChaos({
    kubeconfig: c.kubeconfig, clusterDir: dirname(c.kubeconfig), durationMs: durationS * 1000, seed: Number(values.seed),
    lease: { durationS: durationLease!, renewS: renewS!, retryS: retryS! },
    replicaLogLevel: values['replica-log-level'],
    progress: (line) => process.stderr.write(`[chaos] ${line}\n`),
  });
  console.log(JSON.stringify(report, null, 2));
  if (report.violations > 0) process.exitCode = 1;
} finally { c.stop(); }
