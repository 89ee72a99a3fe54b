// Reconciles one namespace: plan (pure) -> diff against the cache -> the fewest writes, sent together.
import { LABEL_TENANT, FIELD_MANAGER, MANAGED_POLICY_NAMES } from '../policy/labels.ts';
import { planNamespace, policiesToApply, type NamespacePlan } from '../policy/desired.ts';
import { compactPolicy, ownedDigest, policyDrift, type CachedPolicy } from '../policy/diff.ts';
import type { NetworkPolicy } from '../policy/types.ts';
import type { ValidTenant } from '../api/schema.ts';
import { isConflict, isNamespaceTerminating, isNotFound } from '../kube/rest.ts';
import { ValueInterner, strings } from '../kube/intern.ts';
import { isTerminating, policyPath, type ControllerContext, type NamespaceOutcome } from './context.ts';

export async function reconcileNamespace(ctx: ControllerContext, name: string): Promise<void> {
  try {
    await reconcile(ctx, name);
  } catch (err) {
    // The tenant's status must say why, not wait forever for an outcome.
    const claimants = ctx.index.claimantsOf(name);
    if (claimants.length > 0) setOutcome(ctx, name, { state: 'Pending', message: `reconcile failed, retrying: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500), tenants: claimants });
    throw err;
  }
}

async function reconcile(ctx: ControllerContext, name: string): Promise<void> {
  const ns = ctx.namespaces.get(name);
  const log = ctx.log.child({ namespace: name });
  if (!ns) { setOutcome(ctx, name, undefined); return; } // gone: its policies went with it
  if (isTerminating(ns)) {
    // Left alone: writes would be refused, and the namespace's pods are going away with it.
    setOutcome(ctx, name, { state: 'Terminating', message: 'namespace is terminating', tenants: ctx.index.claimantsOf(name) });
    return;
  }
  // The cache, corrected by our own writes it has not seen yet.
  const existing = new Map<string, CachedPolicy>();
  const names = new Set([...ctx.policies.list(name).map((p) => p.metadata.name), ...MANAGED_POLICY_NAMES]);
  for (const n of names) {
    const p = ctx.assumed.resolve(name, n, ctx.policies.get(n, name));
    if (p) existing.set(n, p);
  }
  const frozenBy = [...existing.values()].map((p) => p.metadata.labels?.[LABEL_TENANT]).find((t) => t !== undefined && ctx.invalidTenants.has(t));
  if (frozenBy) {
    setOutcome(ctx, name, { state: 'Pending', message: `left as it is: TenantIsolation ${frozenBy} has an invalid spec`, tenants: ctx.index.claimantsOf(name) });
    return;
  }
  const claimants = ctx.index.claimantsOf(name).map((t) => ctx.index.tenant(t)).filter((t): t is ValidTenant => t !== undefined);
  const plan = planNamespace(name, claimants, (t) => ctx.index.membersOf(t));
  const wanted = policiesToApply(plan);
  const hadPolicies = existing.size > 0;

  // One digest per wanted policy: it decides drift and is what we remember as applied.
  const checked = wanted.map((p) => {
    const digest = strings.intern(ownedDigest(p));
    return { p, digest, drift: policyDrift(p, existing.get(p.metadata.name), digest) };
  });
  // Already as wanted: remember it as ours, so a later edit by someone else is recognised as tampering.
  let applied = ctx.lastApplied.get(name);
  if (!applied) { applied = new Map(); ctx.lastApplied.set(name, applied); }
  for (const c of checked) if (c.drift === undefined && !applied.has(c.p.metadata.name)) applied.set(c.p.metadata.name, c.digest);
  const writes = checked.filter((w) => w.drift !== undefined);
  // All writes at once: every subset of a namespace's managed policies is at least as restrictive as none,
  // and each only narrows what the others allow, so no write order opens a path.
  try {
    await Promise.all(writes.map((w) => applyPolicy(ctx, w.p, w.digest)));
  } catch (err) {
    if (isNamespaceTerminating(err)) { log.debug('namespace began terminating during reconcile'); return; }
    throw err;
  }
  const wantedNames = new Set(wanted.map((p) => p.metadata.name));
  const stale = [...existing.values()].filter((p) => !wantedNames.has(p.metadata.name));
  await Promise.all(stale.map((p) => deletePolicy(ctx, p)));

  for (const w of writes) {
    const last = applied.get(w.p.metadata.name);
    const current = existing.get(w.p.metadata.name);
    applied.set(w.p.metadata.name, w.digest);
    // Tampering: what is stored is no longer what we last wrote (edited, or deleted by someone else).
    const tampered = last !== undefined && (current === undefined || current.ownedDigest !== last);
    const tenant = w.p.metadata.labels?.[LABEL_TENANT] ?? '';
    if (tampered) {
      ctx.metrics.driftCorrections.inc();
      log.info({ tenant, policy: w.p.metadata.name, drift: w.drift }, 'restored managed policy');
      const target = ctx.index.tenant(tenant);
      if (target) ctx.events.record(target, 'Normal', 'PolicyRestored', `Restored NetworkPolicy ${name}/${w.p.metadata.name} (${w.drift === 'missing' ? 'it was deleted' : 'it was changed'})`);
    } else if (current !== undefined) {
      log.info({ tenant, policy: w.p.metadata.name, changed: w.drift }, 'updated managed policy');
    }
  }
  for (const p of stale) applied.delete(p.metadata.name);
  if (applied.size === 0) ctx.lastApplied.delete(name);
  if (writes.length > 0 && !hadPolicies && plan.kind === 'member') {
    log.info({ tenant: plan.tenant.name, policies: writes.map((w) => w.p.metadata.name) }, 'isolated namespace');
    const applied = writes.map((w) => w.p.metadata.name).join(', ');
    ctx.events.recordBatched(plan.tenant, 'Normal', 'NamespaceIsolated', name, (names) => (names.length === 1
      ? `Isolated namespace ${names[0]}: applied ${applied}`
      : `Isolated ${names.length} namespaces: ${names.join(', ')}`));
  }
  if (stale.length > 0) {
    const byTenant = new Map<string, string[]>();
    for (const p of stale) {
      const t = p.metadata.labels?.[LABEL_TENANT] ?? '';
      byTenant.set(t, [...(byTenant.get(t) ?? []), p.metadata.name]);
    }
    for (const [t, names] of byTenant) {
      const tenant = ctx.index.tenant(t) ?? uidOf(ctx, t);
      log.info({ tenant: t, policies: names }, 'removed managed policies');
      if (tenant) ctx.events.record(tenant, 'Normal', 'PoliciesRemoved', `Removed ${names.join(', ')} from namespace ${name}: ${reasonForRemoval(plan, t)}`);
    }
  }
  setOutcome(ctx, name, outcomeOf(plan));
}

function uidOf(ctx: ControllerContext, tenant: string): { name: string; uid: string } | undefined {
  const obj = ctx.tenants.get(tenant);
  return obj ? { name: tenant, uid: obj.metadata.uid } : undefined;
}

function reasonForRemoval(plan: NamespacePlan, tenant: string): string {
  if (plan.kind === 'unclaimed') return `it is no longer a member of tenant ${tenant}`;
  if (plan.kind === 'member' && plan.tenant.name === tenant && plan.tenant.spec.mode === 'Audit') return 'the tenant is in Audit mode';
  if (plan.kind === 'member' && plan.tenant.name === tenant) return 'the tenant no longer declares them';
  return `it now belongs to ${plan.kind === 'member' ? `tenant ${plan.tenant.name}` : 'several tenants'}`;
}

function outcomeOf(plan: NamespacePlan): NamespaceOutcome | undefined {
  switch (plan.kind) {
    case 'unclaimed': return undefined;
    case 'conflict': {
      const names = plan.tenants.map((t) => t.name);
      return { state: 'Conflict', tenants: names, message: `claimed by TenantIsolations ${names.join(', ')}; failed closed: default-deny only` };
    }
    case 'member': {
      const policies = plan.policies.map((p) => p.metadata.name).join(', ');
      return plan.tenant.spec.mode === 'Audit'
        ? { state: 'WouldIsolate', tenants: [plan.tenant.name], message: `Audit mode: Enforce would apply ${policies}` }
        : { state: 'Isolated', tenants: [plan.tenant.name], message: `${plan.policies.length} policies applied` };
    }
  }
}

const outcomes = new ValueInterner<NamespaceOutcome>();

function setOutcome(ctx: ControllerContext, name: string, next: NamespaceOutcome | undefined): void {
  const prev = ctx.outcomes.get(name);
  // Equal outcomes are one shared object (the namespaces of a tenant mostly have the same one).
  if (next) ctx.outcomes.set(name, outcomes.intern(next)); else ctx.outcomes.delete(name);
  if (next?.state === 'Isolated') {
    const since = ctx.memberSince.get(name);
    if (since !== undefined) { ctx.metrics.timeToIsolation.observe((performance.now() - since) / 1000); ctx.memberSince.delete(name); }
  }
  if (prev?.state === next?.state && prev?.message === next?.message && sameList(prev?.tenants, next?.tenants)) return;
  if (next?.state === 'Conflict' && prev?.state !== 'Conflict') {
    for (const t of next.tenants) {
      const target = ctx.index.tenant(t);
      const others = next.tenants.filter((o) => o !== t).join(', ');
      if (target) ctx.events.record(target, 'Warning', 'NamespaceConflict', `Namespace ${name} is also claimed by TenantIsolation ${others}; it fails closed (default-deny, no intra-tenant allow) until one claim goes away`);
    }
  }
  for (const t of new Set([...(prev?.tenants ?? []), ...(next?.tenants ?? [])])) ctx.enqueueTenant(t);
}

const sameList = (a: readonly string[] = [], b: readonly string[] = []): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

async function applyPolicy(ctx: ControllerContext, desired: NetworkPolicy, desiredDigest: string): Promise<void> {
  const path = policyPath(desired.metadata.namespace, desired.metadata.name);
  let stored = compactPolicy(await ctx.rest.apply<NetworkPolicy>(path, desired, FIELD_MANAGER, true), { string: (s) => strings.intern(s) });
  // Server-side apply keeps fields other managers own (e.g. an ingress rule someone added to our
  // default-deny with kubectl edit). If any remain, replace the object whole, guarded by resourceVersion.
  if (stored.ownedDigest !== desiredDigest) {
    stored = compactPolicy(await ctx.rest.update<NetworkPolicy>(path, { ...desired, metadata: { ...desired.metadata, resourceVersion: stored.metadata.resourceVersion } }, FIELD_MANAGER));
  }
  ctx.assumed.assume(stored);
}

async function deletePolicy(ctx: ControllerContext, p: CachedPolicy): Promise<void> {
  try {
    await ctx.rest.delete(policyPath(p.metadata.namespace, p.metadata.name), { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: p.metadata.resourceVersion } });
    ctx.assumed.assumeDeleted(p.metadata.namespace, p.metadata.name, p.metadata.resourceVersion);
  } catch (err) {
    if (!isNotFound(err) && !isConflict(err)) throw err; // a failed precondition is a Conflict
  }
}

export const MANAGED_NAMES: ReadonlySet<string> = new Set(MANAGED_POLICY_NAMES);
