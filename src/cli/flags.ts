// Flags named as a kubebuilder main.go names them, validated by zod with errors that name the flag.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { checkLeaseTimings } from '../kube/leader-election.ts';

/**
 * Namespace workers. A worker waits on the apiserver (policy writes are round trips), it burns no CPU
 * here meanwhile: more workers are more writes in flight, bounded by the client's 32 connections and the
 * apiserver's own limits. The measurements behind 16: docs/operations.md, "Workers and arrival rate".
 */
export const DEFAULT_CONCURRENCY = 16;

const bindAddress = z.string().regex(/^(0|(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]*):\d{1,5})$/, 'must be host:port, :port or 0 (disabled)');

const runFlagsShape = z.strictObject({
  kubeconfig: z.string().min(1).optional(),
  /** Default :8443 when secure, :8080 with --metrics-secure=false (kubebuilder's two ports). */
  'metrics-bind-address': bindAddress.optional(),
  'metrics-secure': z.boolean().default(true),
  'metrics-cert-path': z.string().min(1).optional(),
  'metrics-cert-name': z.string().min(1).default('tls.crt'),
  'metrics-cert-key': z.string().min(1).default('tls.key'),
  'health-probe-bind-address': bindAddress.default(':8081'),
  'leader-elect': z.boolean().default(false),
  'leader-election-namespace': z.string().optional(),
  'leader-election-id': z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a Lease name').default('tenant-isolation-operator.isolation.tenancy.dev'),
  concurrency: z.coerce.number().int().min(1).max(256).default(DEFAULT_CONCURRENCY),
  'tenant-concurrency': z.coerce.number().int().min(1).max(256).default(2),
  'resync-period': z.coerce.number().int().min(0).default(600).describe('seconds; 0 disables'),
  'log-level': z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info'),
  'isolation-proof': z.boolean().default(true),
  'reserved-namespaces': z.string().default('').transform((s) => s.split(',').map((n) => n.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'must be a comma-separated list of namespace names'))),
  // As controller-runtime since v0.21: no client-side rate limit by default, the apiserver's API
  // Priority and Fairness decides; a positive QPS turns one on (lease renewals are never limited).
  'kube-api-qps': z.coerce.number().refine(Number.isFinite, 'must be a number').default(-1),
  'kube-api-burst': z.coerce.number().int().min(1).default(10),
  'watch-silence-limit': z.coerce.number().int().min(60, 'must be at least 60 (seconds): the apiserver sends a bookmark about once a minute').default(180),
  'optimizing-compiler': z.enum(['maglev', 'turbofan']).default('maglev'),
  // kube-controller-manager's names and defaults (seconds here).
  'leader-elect-lease-duration': z.coerce.number().int().min(1).default(15),
  'leader-elect-renew-deadline': z.coerce.number().positive().default(10),
  'leader-elect-retry-period': z.coerce.number().positive().default(2),
});
const BOOLEAN_FLAGS = new Set(['metrics-secure', 'leader-elect', 'isolation-proof']);

export const runFlags = runFlagsShape
  .refine((f) => f['metrics-secure'] || f['metrics-cert-path'] === undefined, { path: ['metrics-cert-path'], message: 'needs --metrics-secure (a certificate is only used for HTTPS)' })
  .transform((f) => ({ ...f, 'metrics-bind-address': f['metrics-bind-address'] ?? (f['metrics-secure'] ? ':8443' : ':8080') }));
export type RunFlags = z.output<typeof runFlags>;

export const RUN_HELP = `Usage: tenant-isolation run [flags]

Runs the operator: watches TenantIsolations, Namespaces and managed NetworkPolicies and keeps every
tenant namespace isolated.

Flags:
  --kubeconfig PATH                  kubeconfig file (default: $KUBECONFIG, then in-cluster config, then ~/.kube/config)
  --metrics-bind-address ADDR        Prometheus /metrics listener (default :8443, or :8080 with --metrics-secure=false; 0 disables)
  --metrics-secure[=false]           serve /metrics over HTTPS to clients whose bearer token the apiserver authenticates
                                     (TokenReview) and authorizes for GET /metrics (SubjectAccessReview) (default true;
                                     false: plain HTTP to anyone, for development)
  --metrics-cert-path DIR            directory holding the metrics serving certificate, re-read when it changes
                                     (default: a self-signed certificate made at start)
  --metrics-cert-name FILE           certificate file in --metrics-cert-path (default tls.crt)
  --metrics-cert-key FILE            private key file in --metrics-cert-path (default tls.key)
  --health-probe-bind-address ADDR   /healthz and /readyz listener (default :8081; 0 disables)
  --leader-elect                     elect one active replica through a coordination.k8s.io Lease
  --leader-election-namespace NS     namespace of the Lease (default: the pod's namespace)
  --leader-election-id NAME          name of the Lease (default tenant-isolation-operator.isolation.tenancy.dev)
  --concurrency N                    concurrent namespace reconciles: the controller writing policies (default ${DEFAULT_CONCURRENCY})
  --tenant-concurrency N             concurrent TenantIsolation reconciles: finalizers and status (default 2)
  --resync-period SECONDS            re-check everything periodically as a safety net (default 600; 0 disables)
  --log-level LEVEL                  trace|debug|info|warn|error (default info)
  --no-isolation-proof               skip the reachability analysis (no Isolated condition; no Pod watch)
  --reserved-namespaces NS,NS        namespaces no tenant may claim, besides kube-system, kube-public,
                                     kube-node-lease, tenant-isolation-system and the operator's own
  --kube-api-qps QPS                 client-side rate limit on API requests (default -1: none, as controller-runtime;
                                     the apiserver's priority and fairness applies)
  --kube-api-burst N                 requests allowed at once above --kube-api-qps (default 10)
  --watch-silence-limit SECONDS      restart a watch silent for this long (default 180; bookmarks come every ~60 s)
  --optimizing-compiler NAME         V8's top tier for hot code: maglev (default: about 5.5 MB less resident memory,
                                     no more CPU in the benchmarks) or turbofan (V8's own default)
  --leader-elect-lease-duration S    how long a standby waits for an unrenewed lease (default 15)
  --leader-elect-renew-deadline S    how long a leader tries to renew before it stops writing and exits (default 10)
  --leader-elect-retry-period S      time between lease attempts (default 2)
  -h, --help                         show this help

Boolean flags take --flag, --no-flag or --flag=true|false.
Environment: TIO_<FLAG> (e.g. TIO_CONCURRENCY=8) sets a flag's default.`;

/** Parses argv (after the command) with environment defaults; throws an Error naming the bad flag. */
export function parseRunFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): RunFlags | 'help' {
  const { values } = parseArgs({
    // Go's flag package (and so kubebuilder's manifests) writes booleans as --flag=false.
    args: argv.map((a) => {
      const m = /^--([a-z-]+)=(true|false)$/.exec(a);
      return m && BOOLEAN_FLAGS.has(m[1]!) ? (m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`) : a;
    }),
    strict: true,
    allowPositionals: false,
    allowNegative: true,
    options: {
      kubeconfig: { type: 'string' },
      'metrics-bind-address': { type: 'string' },
      'metrics-secure': { type: 'boolean' },
      'metrics-cert-path': { type: 'string' },
      'metrics-cert-name': { type: 'string' },
      'metrics-cert-key': { type: 'string' },
      'health-probe-bind-address': { type: 'string' },
      'leader-elect': { type: 'boolean' },
      'leader-election-namespace': { type: 'string' },
      'leader-election-id': { type: 'string' },
      concurrency: { type: 'string' },
      'tenant-concurrency': { type: 'string' },
      'resync-period': { type: 'string' },
      'log-level': { type: 'string' },
      'isolation-proof': { type: 'boolean' },
      'reserved-namespaces': { type: 'string' },
      'kube-api-qps': { type: 'string' },
      'kube-api-burst': { type: 'string' },
      'watch-silence-limit': { type: 'string' },
      'optimizing-compiler': { type: 'string' },
      'leader-elect-lease-duration': { type: 'string' },
      'leader-elect-renew-deadline': { type: 'string' },
      'leader-elect-retry-period': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const merged: Record<string, unknown> = {};
  for (const key of Object.keys(runFlagsShape.shape)) {
    const envValue = env[`TIO_${key.toUpperCase().replaceAll('-', '_')}`];
    if (envValue === undefined) continue;
    if (!BOOLEAN_FLAGS.has(key)) { merged[key] = envValue; continue; }
    // Only true or false: TIO_LEADER_ELECT=1 read as false would run two replicas unelected.
    if (envValue !== 'true' && envValue !== 'false') throw new Error(`TIO_${key.toUpperCase().replaceAll('-', '_')} (--${key}): must be true or false, not ${envValue}`);
    merged[key] = envValue === 'true';
  }
  for (const [k, v] of Object.entries(values)) if (k !== 'help' && v !== undefined) merged[k] = v;
  const r = runFlags.safeParse(merged);
  if (!r.success) {
    throw new Error(r.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  }
  try { checkLeaseTimings(leaseTimings(r.data)); } catch (e) {
    throw new Error(`--leader-elect-lease-duration, --leader-elect-renew-deadline, --leader-elect-retry-period: ${(e as Error).message}`, { cause: e });
  }
  return r.data;
}

/** The lease timings the flags ask for, in milliseconds. */
export function leaseTimings(f: Pick<RunFlags, 'leader-elect-lease-duration' | 'leader-elect-renew-deadline' | 'leader-elect-retry-period'>) {
  return { leaseDurationMs: f['leader-elect-lease-duration'] * 1000, renewDeadlineMs: f['leader-elect-renew-deadline'] * 1000, retryPeriodMs: f['leader-elect-retry-period'] * 1000 };
}
