// Helpers for integration tests: a client for the shared control plane, unique names, polling, and an
// operator instance running in the test process against the real apiserver.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { expect, inject } from 'vitest';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { RestClient, isNotFound } from '../../src/kube/rest.ts';
import { startOperator, type RunningOperator, type StartOptions } from '../../src/cli/run.ts';
import { runFlags } from '../../src/cli/flags.ts';
import type { NetworkPolicy, NamespaceObject } from '../../src/policy/types.ts';
import { FINALIZER, type TenantIsolationObject } from '../../src/api/schema.ts';
import { LABEL_ISOLATED, LABEL_MANAGED_BY, MANAGED_SELECTOR, OPERATOR_NAME } from '../../src/policy/labels.ts';

export const kubeconfig = (): string => inject('kubeconfig');

let client: RestClient | undefined;
export async function rest(): Promise<RestClient> {
  client ??= await RestClient.create(loadKubeConfig(kubeconfig()));
  return client;
}

export async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(inject('kubectl'), ['--kubeconfig', kubeconfig(), ...args]);
  return stdout;
}

/** DNS-1123 safe, unique across tests and runs. */
export const unique = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`;

export async function eventually<T>(fn: () => Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) { last = e; }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await (await rest()).create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }, 'tests');
}

export async function labelNamespace(name: string, labels: Record<string, string | null>): Promise<void> {
  await (await rest()).mergePatch(`/api/v1/namespaces/${name}`, { metadata: { labels } }, 'tests');
}

export async function getNamespace(name: string): Promise<NamespaceObject | undefined> {
  try { return await (await rest()).get<NamespaceObject>(`/api/v1/namespaces/${name}`); } catch (e) { if (isNotFound(e)) return undefined; throw e; }
}

export async function applyTenant(name: string, spec: Record<string, unknown>): Promise<TenantIsolationObject> {
  return (await rest()).apply<TenantIsolationObject>(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${name}`, {
    apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name }, spec,
  }, 'tests', true);
}

export async function getTenant(name: string): Promise<TenantIsolationObject | undefined> {
  try { return await (await rest()).get<TenantIsolationObject>(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${name}`); } catch (e) { if (isNotFound(e)) return undefined; throw e; }
}

export async function deleteTenant(name: string): Promise<void> {
  await (await rest()).delete(`/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${name}`);
}

export async function policies(namespace: string): Promise<NetworkPolicy[]> {
  const list = await (await rest()).get<{ items: NetworkPolicy[] }>(`/apis/networking.k8s.io/v1/namespaces/${namespace}/networkpolicies`);
  return list.items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
}

export const policyNames = async (namespace: string): Promise<string[]> => (await policies(namespace)).map((p) => p.metadata.name);

/** The three policies every member namespace of a default tenant holds, sorted by name. */
export const MANAGED_POLICIES: readonly string[] = ['tenant-isolation-allow-dns', 'tenant-isolation-allow-intra-tenant', 'tenant-isolation-default-deny'];

/** Waits until the namespace holds exactly these policies (sorted names). */
export const isolatedWith = (ns: string, names: readonly string[], timeoutMs = 15_000): Promise<string[]> => eventually(async () => {
  const got = await policyNames(ns);
  return JSON.stringify(got) === JSON.stringify(names) ? got : undefined;
}, `${ns} to hold ${names.join(', ')}`, timeoutMs);

/** Waits until the operator has labelled the namespace isolated: from then on the pod gate admits Pods there. */
export const podsAdmitted = (ns: string, timeoutMs = 15_000): Promise<true> => eventually(async () =>
  (await getNamespace(ns))?.metadata.labels?.[LABEL_ISOLATED] === 'true' || undefined, `${ns} labelled ${LABEL_ISOLATED}=true`, timeoutMs);

export async function condition(tenant: string, type: string): Promise<{ status: string; reason: string; message: string; observedGeneration?: number } | undefined> {
  return (await getTenant(tenant))?.status?.conditions?.find((c) => c.type === type);
}

export async function events(tenant: string): Promise<{ reason: string; message: string; type: string }[]> {
  const list = await (await rest()).get<{ items: { reason: string; message: string; type: string; involvedObject: { name: string; kind: string } }[] }>('/api/v1/namespaces/default/events');
  return list.items.filter((e) => e.involvedObject.kind === 'TenantIsolation' && e.involvedObject.name === tenant);
}

export const operatorKubeconfig = (): string => inject('operatorKubeconfig');
export const OPERATOR_NAMESPACE = 'tenant-isolation-system';

/** An operator in this process, as the shipped ServiceAccount (config/rbac only). */
export async function startTestOperator(over: Record<string, unknown> = {}, opts: StartOptions = {}): Promise<RunningOperator> {
  const flags = runFlags.parse({
    kubeconfig: operatorKubeconfig(), 'metrics-bind-address': '0', 'health-probe-bind-address': '0', 'resync-period': 0,
    'leader-election-namespace': OPERATOR_NAMESPACE, ...over,
  });
  const log = pino({ level: process.env.TIO_TEST_LOG ?? 'silent' });
  return startOperator(flags, log, { processMetrics: false, ...opts });
}

/** Sum of the operator's own write counter (all verbs). */
export async function writes(op: RunningOperator): Promise<number> {
  const m = await op.metrics.apiWrites.get();
  return m.values.reduce((s, v) => s + v.value, 0);
}

/** Writes of NetworkPolicies (create, apply, update, delete), counted by the operator's own metric. */
export async function policyWrites(op: RunningOperator): Promise<number> {
  const m = await op.metrics.apiWrites.get();
  return m.values.filter((v) => v.labels.resource === 'networkpolicies').reduce((s, v) => s + v.value, 0);
}

/**
 * From now on, counts the operator's NetworkPolicy writes (any verb, as policyWrites counts them) in these
 * namespaces only: a "writes nothing here" check that other tenants' work in the shared operator cannot move.
 */
export function policyWritesIn(op: RunningOperator, namespaces: readonly string[]): () => number {
  const watched = new Set(namespaces);
  let n = 0;
  op.rest.onWrite((_verb, path) => {
    const ns = /\/namespaces\/([^/?]+)\/networkpolicies(?:[/?]|$)/.exec(path)?.[1];
    if (ns !== undefined && watched.has(ns)) n++;
  });
  return () => n;
}

/** A finalizer of the tests' own, see holdTenant. */
export const TEST_FINALIZER = 'tests.isolation.tenancy.dev/hold';

/** Sets the tenant's finalizers to what `change` makes of them, with its resourceVersion as a precondition (retried on conflict). */
async function changeTenantFinalizers(name: string, change: (finalizers: string[]) => string[]): Promise<void> {
  const path = `/apis/isolation.tenancy.dev/v1alpha1/tenantisolations/${name}`;
  await eventually(async () => {
    const ti = await getTenant(name);
    if (!ti) return true;
    await (await rest()).mergePatch(path, { metadata: { resourceVersion: ti.metadata.resourceVersion, finalizers: change(ti.metadata.finalizers ?? []) } }, 'tests');
    return true;
  }, `the finalizers of ${name} to be changed`);
}

/**
 * Adds TEST_FINALIZER to the tenant: once deleted, it stays (terminating) after the operator released its
 * own finalizer, so a test can look at the cluster then, before the garbage collector acts on what the
 * tenant owns. Returns what releases it.
 */
export async function holdTenant(name: string): Promise<() => Promise<void>> {
  await changeTenantFinalizers(name, (f) => (f.includes(TEST_FINALIZER) ? f : [...f, TEST_FINALIZER]));
  return () => changeTenantFinalizers(name, (f) => f.filter((x) => x !== TEST_FINALIZER));
}

/**
 * Deletes the tenant held by holdTenant, and runs `check` once the operator has released its finalizer
 * while the tenant is still there (terminating, only the test's finalizer left): what `check` finds gone
 * the operator removed, not the garbage collector. Then releases it and waits until it is gone.
 */
export async function deleteTenantChecking(name: string, check: () => Promise<void>): Promise<void> {
  const release = await holdTenant(name);
  try {
    await deleteTenant(name);
    const held = await eventually(async () => {
      const ti = await getTenant(name);
      return ti === undefined || !ti.metadata.finalizers?.includes(FINALIZER) ? { ti } : undefined;
    }, `the operator to release the finalizer of ${name}`);
    expect(held.ti?.metadata.deletionTimestamp).toBeDefined();
    expect(held.ti?.metadata.finalizers).toEqual([TEST_FINALIZER]);
    await check();
  } finally { await release(); }
  await eventually(async () => (await getTenant(name)) === undefined, `${name} to be gone`);
}

/**
 * A client acting as a ServiceAccount created for the test (a token from the TokenRequest API), for tests
 * of what a given identity may do. `bind` runs before the token is made (RoleBindings and the like).
 */
export async function clientAs(namespace: string, serviceAccount: string): Promise<RestClient> {
  await kubectl('create', 'serviceaccount', serviceAccount, '-n', namespace);
  const token = (await kubectl('create', 'token', serviceAccount, '-n', namespace, '--duration=1h')).trim();
  const admin = loadKubeConfig(kubeconfig());
  // The admin's CA, not its client certificate (that would authenticate the requests as the admin).
  return RestClient.create({
    source: `serviceaccount ${namespace}/${serviceAccount}`, server: admin.server,
    tls: { ca: admin.tls.ca, rejectUnauthorized: admin.tls.rejectUnauthorized }, authorization: () => Promise.resolve(`Bearer ${token}`),
  });
}

/**
 * A ServiceAccount (in `namespace`) that may patch that namespace and nothing else: someone who may label
 * a namespace but holds none of the operator's grants, so the membership guards apply to it.
 */
export async function namespacePatcher(namespace: string): Promise<RestClient> {
  await kubectl('create', 'clusterrole', `patch-${namespace}`, '--verb=get,patch', '--resource=namespaces', `--resource-name=${namespace}`);
  await kubectl('create', 'clusterrolebinding', `patch-${namespace}`, `--clusterrole=patch-${namespace}`, `--serviceaccount=${namespace}:patcher`);
  const client = await clientAs(namespace, 'patcher');
  await eventually(async () => client.get(`/api/v1/namespaces/${namespace}`).then(() => true, () => false), 'the patcher may read its namespace');
  return client;
}

/** The message of a refused request (an ApiError), or undefined when it succeeded. */
export async function refusal(request: Promise<unknown>): Promise<string | undefined> {
  try { await request; return undefined; } catch (e) { return e instanceof Error ? e.message : String(e); }
}

/** `kubectl ARGS` with stderr too (warnings are printed there), never rejecting. */
export async function kubectlRun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return promisify(execFile)(inject('kubectl'), ['--kubeconfig', kubeconfig(), ...args])
    .then((r) => ({ code: 0, ...r }), (e: unknown) => ({ code: 1, stdout: '', stderr: '', ...(e as object) }));
}

/** Creates a Pod (image never pulled: no kubelet runs here). */
export async function createPod(namespace: string, name: string, extra: { labels?: Record<string, string>; finalizers?: string[] } = {}, client?: RestClient): Promise<unknown> {
  return (client ?? await rest()).create(`/api/v1/namespaces/${namespace}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: extra.labels ?? {}, ...(extra.finalizers ? { finalizers: extra.finalizers } : {}) },
    spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
  }, 'tests');
}

/**
 * Creates a Pod once admission lets it in: the pod gate reads the namespace from the apiserver's own
 * informer, which can be a few milliseconds behind the `isolated` label a GET already shows. A refusal is
 * thrown, so that a timeout says what refused the pod.
 */
export async function podAdmitted(namespace: string, name: string): Promise<true> {
  return eventually(async () => {
    const why = await refusal(createPod(namespace, name));
    if (why !== undefined) throw new Error(why);
    return true;
  }, `pod ${namespace}/${name} admitted`);
}

const MEMBER_LABEL_GUARD_PATH = '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/tenant-isolation-member-label';

/**
 * Takes the member-label guard's binding away: tenants name their members by namespace name (the
 * behaviour where the gate is not installed). Returns what puts it back.
 */
export async function withoutMemberLabelGuard(): Promise<() => Promise<void>> {
  const r = await rest();
  const b = await r.get<{ metadata: { name: string; labels?: Record<string, string> }; spec: unknown }>(MEMBER_LABEL_GUARD_PATH);
  await r.delete(MEMBER_LABEL_GUARD_PATH);
  return async () => {
    await (await rest()).apply(MEMBER_LABEL_GUARD_PATH, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: b.metadata.name, labels: b.metadata.labels }, spec: b.spec }, 'tests', true);
  };
}

/** What `settled` compares: the apiserver's resourceVersions of the objects named, keyed by kind and name. */
async function versionsOf(what: { namespaces?: readonly string[]; tenants?: readonly string[] }): Promise<Map<string, string>> {
  const r = await rest();
  const out = new Map<string, string>();
  for (const ns of what.namespaces ?? []) {
    const n = await getNamespace(ns);
    if (n?.metadata.resourceVersion) out.set(`ns/${ns}`, n.metadata.resourceVersion);
    const list = await r.get<{ items: NetworkPolicy[] }>(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, { labelSelector: MANAGED_SELECTOR });
    for (const p of list.items) out.set(`np/${ns}/${p.metadata.name}`, p.metadata.resourceVersion ?? '');
  }
  for (const t of what.tenants ?? []) {
    const ti = await getTenant(t);
    if (ti?.metadata.resourceVersion) out.set(`ti/${t}`, ti.metadata.resourceVersion);
  }
  return out;
}

/** The operator's watch caches hold each object at least at the given version, and no managed policy the apiserver lacks. */
function cachesHold(op: RunningOperator, want: Map<string, string>, what: { namespaces?: readonly string[] }): boolean {
  const c = op.manager.caches;
  const atLeast = (have: string | undefined, v: string): boolean => have !== undefined && BigInt(have) >= BigInt(v);
  for (const [key, v] of want) {
    const [kind, a, b] = key.split('/') as [string, string, string | undefined];
    const have = kind === 'ns' ? c.namespaces.get(a)?.metadata.resourceVersion
      : kind === 'ti' ? c.tenants.get(a)?.metadata.resourceVersion
        : c.policies.get(b!, a)?.metadata.resourceVersion;
    if (!atLeast(have, v)) return false;
  }
  for (const ns of what.namespaces ?? []) {
    for (const p of c.policies.list(ns)) if (p.metadata.labels?.[LABEL_MANAGED_BY] === OPERATOR_NAME && !want.has(`np/${ns}/${p.metadata.name}`)) return false;
  }
  return true;
}

/**
 * A barrier for "nothing more happens": waits until the operator's caches hold the named namespaces,
 * their managed policies and the named tenants at the versions the apiserver holds, both work queues
 * are idle, no delayed requeue of these objects is pending and no Event is being sent; again, until
 * its own writes stop moving those versions. What the operator has not done about these objects by
 * then, it will not do without a new event.
 */
export async function settled(op: RunningOperator, what: { namespaces?: readonly string[]; tenants?: readonly string[] }, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const want = await versionsOf(what);
    await eventually(() => Promise.resolve(cachesHold(op, want, what) || undefined), 'the operator\'s caches to catch up', Math.max(1, deadline - Date.now()));
    await op.manager.idle();
    await op.manager.events.idle();
    // A delayed requeue (a status write coalesced, a binding not yet in force) must come and go too: one
    // that keeps coming back is a hot loop, and this barrier then times out.
    const scheduled = (): boolean => (what.tenants ?? []).some((t) => op.manager.tenantController.queue.isScheduled(t))
      || (what.namespaces ?? []).some((n) => op.manager.namespaceController.queue.isScheduled(n));
    if (scheduled()) {
      await eventually(() => Promise.resolve(!scheduled() || undefined), 'delayed requeues to run', Math.max(1, deadline - Date.now()));
      continue;
    }
    const now = await versionsOf(what);
    if (now.size === want.size && [...now].every(([k, v]) => want.get(k) === v)) return;
    if (Date.now() > deadline) throw new Error(`the operator kept writing ${JSON.stringify(what)} for ${timeoutMs} ms`);
  }
}
