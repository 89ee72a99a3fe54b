// Loads credentials in controller-runtime's order: an explicit --kubeconfig, else $KUBECONFIG (a list,
// merged: the first file to define a name wins), else in-cluster service-account credentials, else
// ~/.kube/config.
//
// Our own loader instead of @kubernetes/client-node's KubeConfig: importing that class loads the
// client's generated API models, ~90 MB of resident memory for an operator that needs a URL, TLS
// material and a bearer token (docs/operations.md, Credentials). What it covers: in-cluster tokens
// (re-read, as they rotate), tokens and token files, client certificates, CA bundles,
// insecure-skip-tls-verify, tls-server-name and basic auth. Users with `exec` or `auth-provider`
// credentials (cloud CLIs) get client-node's implementation, imported lazily on the first request, so
// nobody else pays for it.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { load as parseYaml } from 'js-yaml';
import { z } from 'zod';

export interface ClusterAccess {
  /** Where the credentials came from (a file, or "in-cluster"), for messages. */
  source: string;
  server: URL;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean; servername?: string };
  /** The context's namespace, if it names one. */
  namespace?: string;
  /** The Authorization header for the next request, or undefined. Called per request: tokens rotate. */
  authorization(): Promise<string | undefined>;
  /**
   * The apiserver refused the credential (401): the next authorization() gets a fresh one. Only where one
   * can be had (exec and auth-provider plugins); files are re-read as they change anyway.
   */
  refreshAuthorization?(): void;
}

export const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

const clusterSchema = z.object({
  server: z.string(),
  'certificate-authority': z.string().nullish(),
  'certificate-authority-data': z.string().nullish(),
  'insecure-skip-tls-verify': z.boolean().nullish(),
  'tls-server-name': z.string().nullish(),
  'proxy-url': z.string().nullish(),
}).loose();
const userSchema = z.object({
  token: z.string().nullish(),
  tokenFile: z.string().nullish(),
  'client-certificate': z.string().nullish(),
  'client-certificate-data': z.string().nullish(),
  'client-key': z.string().nullish(),
  'client-key-data': z.string().nullish(),
  username: z.string().nullish(),
  password: z.string().nullish(),
  exec: z.unknown().optional(),
  'auth-provider': z.unknown().optional(),
  as: z.string().nullish(),
  'as-groups': z.array(z.string()).nullish(),
  'as-uid': z.string().nullish(),
}).loose();
const contextSchema = z.object({ cluster: z.string(), user: z.string().nullish(), namespace: z.string().nullish() }).loose();
const kubeconfigSchema = z.object({
  'current-context': z.string().nullish(),
  clusters: z.array(z.object({ name: z.string(), cluster: clusterSchema }).loose()).nullish(),
  users: z.array(z.object({ name: z.string(), user: userSchema.nullish() }).loose()).nullish(),
  contexts: z.array(z.object({ name: z.string(), context: contextSchema }).loose()).nullish(),
}).loose();
type Kubeconfig = z.infer<typeof kubeconfigSchema>;

export function loadKubeConfig(path?: string): ClusterAccess {
  if (path) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path} does not exist`);
    return fromFiles([path]);
  }
  const env = (process.env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (env.length > 0) {
    const files = env.filter((f) => existsSync(f));
    if (files.length === 0) throw new Error(`none of the files in $KUBECONFIG exists: ${env.join(delimiter)}`);
    return fromFiles(files);
  }
  if (process.env.KUBERNETES_SERVICE_HOST && existsSync(join(IN_CLUSTER_DIR, 'token'))) return inCluster();
  const home = join(homedir(), '.kube', 'config');
  if (!existsSync(home)) throw new Error('no kubeconfig found (use --kubeconfig or $KUBECONFIG, or run in a cluster)');
  return fromFiles([home]);
}

/** A service account's mounted credentials, as client-go's rest.InClusterConfig reads them. */
export function inCluster(dir = IN_CLUSTER_DIR, env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('in-cluster: KUBERNETES_SERVICE_HOST is not set');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const tokenFile = join(dir, 'token');
  return {
    source: 'in-cluster',
    server: new URL(`https://${hostPart}:${port}`),
    tls: { ca: readFileSync(join(dir, 'ca.crt')), rejectUnauthorized: true },
    namespace: existsSync(join(dir, 'namespace')) ? readFileSync(join(dir, 'namespace'), 'utf8').trim() : undefined,
    authorization: bearerFromFile(tokenFile),
  };
}

/** Re-reads a token file when it changes (bound service-account tokens rotate about hourly). */
function bearerFromFile(file: string): () => Promise<string> {
  let cached: { mtimeMs: number; value: string } | undefined;
  return async () => {
    const { mtimeMs } = await stat(file);
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, value: `Bearer ${(await readFile(file, 'utf8')).trim()}` };
    return cached.value;
  };
}

function readConfig(file: string): Kubeconfig {
  const text = readFileSync(file, 'utf8');
  // An empty (or comments-only) file is an empty config, as for kubectl; js-yaml refuses it.
  if (text.replace(/^\s*#.*$/gm, '').trim() === '') return kubeconfigSchema.parse({});
  let raw: unknown;
  try { raw = parseYaml(text); } catch (e) { throw new Error(`kubeconfig ${file}: not valid YAML: ${(e as Error).message}`, { cause: e }); }
  const r = kubeconfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new Error(`kubeconfig ${file}: ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  return r.data;
}

/** Merges files as kubectl does: the first file to set current-context or to define a name wins. */
export function fromFiles(files: string[]): ClusterAccess {
  const configs = files.map((f) => ({ file: resolve(f), cfg: readConfig(f) }));
  const first = <T>(pick: (c: Kubeconfig) => T | null | undefined): { file: string; value: T } | undefined => {
    for (const { file, cfg } of configs) { const v = pick(cfg); if (v !== undefined && v !== null) return { file, value: v }; }
    return undefined;
  };
  const source = configs.map((c) => c.file).join(delimiter);
  const current = first((c) => c['current-context'] || undefined)?.value;
  if (!current) throw new Error(`kubeconfig ${source}: no current-context`);
  const ctx = first((c) => c.contexts?.find((x) => x.name === current)?.context)?.value;
  if (!ctx) throw new Error(`kubeconfig ${source}: current-context "${current}" is not defined`);
  const cluster = first((c) => c.clusters?.find((x) => x.name === ctx.cluster)?.cluster);
  if (!cluster) throw new Error(`kubeconfig ${source}: cluster "${ctx.cluster}" of context "${current}" is not defined`);
  const user = ctx.user ? first((c) => c.users?.find((x) => x.name === ctx.user))  : undefined;
  if (ctx.user && !user) throw new Error(`kubeconfig ${source}: user "${ctx.user}" of context "${current}" is not defined`);
  const u = user?.value.user ?? {};
  const c = cluster.value;
  if (c['proxy-url']) throw new Error(`kubeconfig ${cluster.file}: cluster "${ctx.cluster}": proxy-url is not supported; connect directly`);
  // Refused rather than ignored: ignoring it would run the operator with the base identity's rights.
  if (u.as || u['as-groups']?.length || u['as-uid']) throw new Error(`kubeconfig ${user?.file ?? source}: user "${ctx.user}": impersonation (as, as-groups, as-uid) is not supported`);

  // Relative paths in a kubeconfig are relative to the file that holds them.
  const fileIn = (owner: string, p: string): Buffer => readFileSync(isAbsolute(p) ? p : join(dirname(owner), p));
  const b64 = (field: string, s: string): Buffer => {
    if (!/^[A-Za-z0-9+/=\s]*$/.test(s)) throw new Error(`kubeconfig: ${field} is not base64`);
    return Buffer.from(s, 'base64');
  };
  const uf = user?.file ?? cluster.file;
  const tls: ClusterAccess['tls'] = {
    rejectUnauthorized: c['insecure-skip-tls-verify'] !== true,
    ca: c['certificate-authority-data'] ? b64('certificate-authority-data', c['certificate-authority-data'])
      : c['certificate-authority'] ? fileIn(cluster.file, c['certificate-authority']) : undefined,
    cert: u['client-certificate-data'] ? b64('client-certificate-data', u['client-certificate-data'])
      : u['client-certificate'] ? fileIn(uf, u['client-certificate']) : undefined,
    key: u['client-key-data'] ? b64('client-key-data', u['client-key-data'])
      : u['client-key'] ? fileIn(uf, u['client-key']) : undefined,
    servername: c['tls-server-name'] ?? undefined,
  };
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error(`kubeconfig ${uf}: user "${ctx.user}" has a client certificate without a key, or a key without a certificate`);

  let authorization: () => Promise<string | undefined>;
  let refreshAuthorization: (() => void) | undefined;
  if (u.exec !== undefined || u['auth-provider'] !== undefined) {
    // Only what the plugin needs (the server and the plugin itself; client-node sets no
    // KUBERNETES_EXEC_INFO, so plugins that ask for cluster info get none): TLS comes from what we
    // resolved above, so client-node never reads relative paths per request.
    const plugin: Record<string, unknown> = {};
    if (u.exec !== undefined) plugin.exec = u.exec;
    if (u['auth-provider'] !== undefined) plugin['auth-provider'] = u['auth-provider'];
    ({ authorization, refresh: refreshAuthorization } = viaClientNode(JSON.stringify({
      'current-context': 'operator',
      contexts: [{ name: 'operator', context: { cluster: 'operator', user: 'operator' } }],
      clusters: [{ name: 'operator', cluster: { server: c.server } }],
      users: [{ name: 'operator', user: plugin }],
    })));
  }
  // As client-go: a tokenFile, re-read as it rotates, takes precedence over a static token, which is
  // used only while the file cannot be read.
  else if (u.tokenFile) {
    const fromFile = bearerFromFile(isAbsolute(u.tokenFile) ? u.tokenFile : join(dirname(uf), u.tokenFile));
    const fallback = u.token ? `Bearer ${u.token}` : undefined;
    authorization = fallback ? () => fromFile().catch(() => fallback) : fromFile;
  }
  else if (u.token) { const h = `Bearer ${u.token}`; authorization = () => Promise.resolve(h); }
  else if (u.username !== undefined && u.username !== null) {
    const h = `Basic ${Buffer.from(`${u.username}:${u.password ?? ''}`).toString('base64')}`;
    authorization = () => Promise.resolve(h);
  } else authorization = () => Promise.resolve(undefined);

  let server: URL;
  try { server = new URL(c.server); } catch { throw new Error(`kubeconfig ${cluster.file}: cluster "${ctx.cluster}": server "${c.server}" is not a URL`); }
  return { source, server, tls, namespace: ctx.namespace ?? undefined, authorization, ...(refreshAuthorization ? { refreshAuthorization } : {}) };
}

/**
 * exec / auth-provider credentials: client-node runs the plugin and caches its token until it expires
 * (for ever without an expiry). Callers at the same moment share one run (at start every informer asks
 * at once, and each would run the plugin); refresh() starts a new cache, for a token the apiserver refused.
 */
function viaClientNode(kubeconfig: string): { authorization: () => Promise<string | undefined>; refresh: () => void } {
  let kc: Promise<{ applyToHTTPSOptions(o: { headers?: Record<string, unknown>; cert?: unknown; key?: unknown }): Promise<void> }> | undefined;
  let inflight: Promise<string | undefined> | undefined;
  const ask = async (): Promise<string | undefined> => {
    kc ??= import('@kubernetes/client-node').then(({ KubeConfig }) => {
      const k = new KubeConfig();
      k.loadFromString(kubeconfig);
      return k;
    });
    const opts: { headers?: Record<string, unknown>; cert?: unknown; key?: unknown } = {};
    await (await kc).applyToHTTPSOptions(opts);
    if (opts.cert || opts.key) throw new Error('kubeconfig: the exec plugin returned a client certificate; only token credentials from plugins are supported');
    const h = opts.headers?.Authorization ?? opts.headers?.authorization;
    return typeof h === 'string' ? h : undefined;
  };
  return {
    authorization: () => (inflight ??= ask().finally(() => { inflight = undefined; })),
    // A new KubeConfig: client-node keeps its token cache per instance.
    refresh: () => { kc = undefined; },
  };
}
