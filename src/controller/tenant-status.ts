// A tenant's status as a pure function of what the caches show: for each claimed namespace, the managed
// policies stored there against those the tenant declares, plus the conflicts, terminations and failures
// around it. It also returns the Events its transitions call for; the reconciler records them only once
// the status is written, so a failed write cannot repeat them.
import type { Breach } from '../analysis/analyzer.ts';
import { NAMESPACE_STATES, TENANT_STATUS_LIST_MAX, type Condition, type InvalidReason, type NamespaceCounts, type NamespaceState, type NamespaceStatus, type PeerMode, type TenantIsolationObject, type TenantIsolationStatus, type ValidTenant } from '../api/schema.ts';
import type { EventType } from '../kube/events.ts';
import { MEMBERSHIP_KEYS, POD_GATE, membershipKeys } from '../admission/policies.ts';
import { POLICY_DEFAULT_DENY } from '../policy/labels.ts';
import { sameDigests } from '../policy/diff.ts';
import { sameConditions, setConditions, type ConditionUpdate } from './conditions.ts';
import type { GateFacts } from './gate-bindings.ts';
import { compareStrings } from '../policy/order.ts';
import type { FleetCounts } from '../metrics/metrics.ts';
import { TENANT_CONDITIONS } from '../metrics/fleet-labels.ts';

/** What is known of one namespace the tenant claims (or names explicitly). */
export interface NamespaceFacts {
  name: string;
  /** Named in spec.namespaces but not created yet. */
  missing: boolean;
  terminating: boolean;
  /** Every valid tenant claiming it, sorted (this one included). */
  claimants: readonly string[];
  /** Managed policies stored there (or just written by the operator): name -> owned digest. */
  stored: ReadonlyMap<string, string>;
  /** An invalid tenant whose policies the namespace holds: it is left as it is. */
  frozenBy: string | undefined;
  /** Why the namespace's last reconcile failed, until one succeeds. */
  lastError: string | undefined;
  /** Work for the namespace is queued or running. */
  busy: boolean;
  /** Policy names the operator wants there that someone else's policy holds. */
  clashes: readonly string[];
  /** Its isolation.tenancy.dev/member-of label. */
  memberLabel: string | undefined;
  /** Claimed by several tenants: whether one of them enforces (the fail-closed deny); none: Audit only, nothing written. */
  conflictEnforced?: boolean;
}

/** What a conflicted namespace holds, by whether any claimant enforces. */
const conflictOutcome = (f: NamespaceFacts | undefined, short: boolean): string => (f?.conflictEnforced === false
  ? 'no claimant enforces, so nothing is written'
  : short ? 'failed closed (default-deny only)' : 'it fails closed (default-deny, no intra-tenant allow)');

export interface TenantStatusInput {
  object: TenantIsolationObject;
  tenant: ValidTenant;
  /** Policy name -> owned digest: what every member namespace must hold (what Enforce would write, in Audit). */
  memberDigests: ReadonlyMap<string, string>;
  namespaces: readonly NamespaceFacts[];
  /** The reachability proof's findings; undefined when the proof is off (no Isolated condition). */
  breaches: readonly Breach[] | undefined;
  /** Reserved namespaces its selector or names match: never members. */
  excluded: readonly string[];
  gate: GateFacts;
  /** Whether the membership guard is installed, and the keys its param lists (MembershipGuarded). */
  membershipGuard: MembershipGuardState;
  /**
   * Whether the admission gate guards the member label, namespaces wrongly carrying this tenant's, and
   * how its policies name members now (a tenant not yet recorded may start by label: peer-modes.ts).
   */
  memberLabel: { guarded: boolean; strays: readonly string[]; inUse?: PeerMode };
  /**
   * Every entry of the status the object holds, where its list is cut (listed()) and the reconciler
   * remembers the full list it wrote: a settled namespace the list leaves out keeps its state while it is
   * reconciled again, as a listed one does. Without it, such a namespace holds the write back until it settles.
   */
  previousAll?: ReadonlyMap<string, NamespaceStatus>;
  now: Date;
}

/** What an invalid tenant's status says of the gate and the proof (tenant-reconciler.ts). */
export interface InvalidTenantAdmission {
  /** The claims it still makes (they stay gated) and what the gate holds for them; undefined: it says none. */
  claims: { tenant: ValidTenant; gate: GateFacts } | undefined;
  membershipGuard: MembershipGuardState;
  /** Whether the reachability proof runs: it analyses valid tenants only (Isolated turns Unknown; absent when off). */
  proof: boolean;
}

/** The membership guard as the operator sees it: installed (policy and binding), and the keys it guards. */
export interface MembershipGuardState { installed: boolean; guarded: ReadonlySet<string> }

export interface StatusEvent { type: EventType; reason: string; message: string }

export interface TenantStatusResult {
  status: TenantIsolationStatus;
  /** To record once the status is written. */
  events: StatusEvent[];
  /**
   * A namespace the tenant never reported is still being reconciled: writing now would show it Pending
   * for a moment (and flip Ready) although nothing is wrong. The namespace settling brings the tenant back.
   */
  settling: boolean;
  /** Every entry, sorted by name (status.namespaces is cut from it). */
  all: readonly NamespaceStatus[];
}

/** One string per policy count: a tenant of thousands repeats it in every entry, and the reconciler keeps them. */
const appliedMessages = new Map<number, string>();
const appliedMessage = (n: number): string => appliedMessages.get(n) ?? appliedMessages.set(n, `${n} policies applied`).get(n)!;

/** The status entry of one namespace, or undefined while it is being reconciled and has no settled state yet. */
function namespaceEntry(t: ValidTenant, want: ReadonlyMap<string, string>, f: NamespaceFacts, previous: NamespaceStatus | undefined): NamespaceStatus | undefined {
  const entry = (state: NamespaceState, message: string): NamespaceStatus => ({ name: f.name, state, message });
  if (f.missing) return entry('Pending', 'namespace does not exist yet; it is isolated when created');
  if (f.terminating) return entry('Terminating', 'namespace is terminating');
  if (f.claimants.length > 1) {
    const others = f.claimants.filter((c) => c !== t.name);
    return entry('Conflict', `also claimed by TenantIsolation ${others.join(', ')}; ${conflictOutcome(f, true)}`);
  }
  if (f.frozenBy) return entry('Pending', `left as it is: TenantIsolation ${f.frozenBy} has an invalid spec`);
  if (f.clashes.length > 0) return entry('Pending', `NetworkPolicy ${f.clashes.join(', ')} here is not the operator's: it is never overwritten; rename or delete it (until then pods wait and the namespace is not isolated)`);
  if (t.spec.mode === 'Audit') return entry('WouldIsolate', `Audit mode: Enforce would apply ${[...want.keys()].join(', ')}`);
  // A failing reconcile is not done even with its policies stored: its last step, the isolated label the
  // pod gate waits for, may be what fails.
  if (f.lastError) return entry('Pending', f.lastError);
  const holds = sameDigests(f.stored, want);
  if (holds) return entry('Isolated', appliedMessage(want.size));
  // Being reconciled: its last settled state stands until the reconcile ends (as a Pending flash would mislead).
  if (f.busy) return previous;
  return entry('Pending', 'waiting for reconcile');
}

export function tenantStatus(input: TenantStatusInput): TenantStatusResult {
  const { object, tenant, now } = input;
  const gen = object.metadata.generation ?? 0;
  // Past 1000 entries the stored list is cut: previousAll, when the reconciler has it, holds them all.
  const previous = input.previousAll ?? new Map((object.status?.namespaces ?? []).map((n) => [n.name, n]));
  const facts = new Map(input.namespaces.map((f) => [f.name, f]));
  const othersOf = (ns: string): string => facts.get(ns)?.claimants.filter((c) => c !== tenant.name).join(', ') ?? '';
  let settling = false;
  /** Being reconciled towards policies other than those stored: listed as they last settled, but not done. */
  let updating = 0;
  const namespaces: NamespaceStatus[] = [];
  for (const f of input.namespaces) {
    const last = previous.get(f.name);
    const e = namespaceEntry(tenant, input.memberDigests, f, last);
    // namespaceEntry hands back the previous entry itself only for that case.
    if (e !== undefined && e === last) updating++;
    if (e) namespaces.push(e); else settling = true;
  }
  for (const name of input.excluded) namespaces.push({ name, state: 'Excluded', message: 'a reserved namespace: never a tenant member, whatever the selector says' });
  namespaces.sort((a, b) => compareStrings(a.name, b.name));
  const count = (s: string): number => namespaces.filter((n) => n.state === s).length;
  const conflicts = namespaces.filter((n) => n.state === 'Conflict');
  const pending = namespaces.filter((n) => n.state === 'Pending' && !facts.get(n.name)?.missing);
  const audit = count('WouldIsolate');
  const events: StatusEvent[] = [];
  const before: readonly Condition[] = object.status?.conditions ?? [];
  const updates: ConditionUpdate[] = [];
  const set = (type: string, status: Condition['status'], reason: string, message: string): void => {
    updates.push({ type, status, reason, message, observedGeneration: gen });
  };
  if (conflicts.length > 0) {
    const first = conflicts[0]!;
    const denied = conflicts.some((c) => facts.get(c.name)?.conflictEnforced !== false);
    set('Ready', 'False', 'NamespaceConflict', `${conflicts.length} namespace(s) also claimed by another tenant, e.g. ${first.name} by TenantIsolation ${othersOf(first.name)}; ${denied ? 'they fail closed' : 'no claimant enforces, so nothing is written there'}`);
  } else if (pending.length > 0) {
    set('Ready', 'False', 'Pending', `${pending.length} of ${namespaces.length} namespace(s) not yet isolated: ${pending.slice(0, 5).map((n) => `${n.name} (${n.message ?? ''})`).join(', ')}`);
  } else if (tenant.spec.mode === 'Audit') {
    // An Audit tenant never reports Isolated, even with no members yet: nothing it selects is isolated.
    set('Ready', 'True', 'AuditMode', `Audit mode: ${audit} namespace(s) would be isolated; no policies written`);
  } else {
    set('Ready', 'True', 'Isolated', `${count('Isolated')} namespace(s) isolated`);
  }
  // A spec change is in progress until every namespace holds the new policies: Ready may stay True (they are
  // isolated as the previous generation said), but a reader waiting for this generation must not be told it is done.
  const progress = [...(pending.length > 0 ? [`${pending.length} namespace(s) pending`] : []), ...(updating > 0 ? [`${updating} namespace(s) being updated`] : [])];
  set('Reconciling', progress.length > 0 ? 'True' : 'False', progress.length > 0 ? 'Progressing' : 'Reconciled', progress.length > 0 ? progress.join(', ') : 'up to date');
  set('Stalled', 'False', 'Reconciled', 'spec is valid');
  for (const u of admissionConditions(tenant, input.gate, input.membershipGuard)) set(u.type, u.status, u.reason, u.message);
  for (const name of input.excluded) {
    if (previous.get(name)?.state === 'Excluded') continue;
    events.push({ type: 'Warning', reason: 'ReservedNamespaceExcluded', message: `Namespace ${name} matches the tenant's namespaceSelector but is reserved: it is never a member` });
  }
  for (const c of conflicts) {
    if (previous.get(c.name)?.state === 'Conflict') continue;
    events.push({ type: 'Warning', reason: 'NamespaceConflict', message: `Namespace ${c.name} is also claimed by TenantIsolation ${othersOf(c.name)}; ${conflictOutcome(facts.get(c.name), false)} until one claim goes away` });
  }
  if (input.breaches) {
    const breaches = input.breaches;
    const prev = before.find((c) => c.type === 'Isolated');
    if (breaches.length === 0) {
      set('Isolated', 'True', 'NoBreach', 'no undeclared path into or out of the tenant\'s pods: only declared allows, DNS and intra-tenant traffic');
      if (prev?.status === 'False') events.push({ type: 'Normal', reason: 'IsolationRestored', message: 'No undeclared path into or out of the tenant remains' });
    } else {
      const b = breaches[0]!;
      const message = `${b.message}${breaches.length > 1 ? ` (and ${breaches.length - 1} more)` : ''}`;
      set('Isolated', 'False', 'BreachedBy', message.slice(0, 1000));
      if (prev?.status !== 'False') events.push({ type: 'Warning', reason: 'IsolationBreached', message });
    }
  }
  // Without the proof there is no Isolated condition: one left from a run with it would say what nobody checks.
  const conditions = setConditions(before, updates, now).filter((c) => input.breaches !== undefined || c.type !== 'Isolated');
  const intraTenantPeers = peerMode(input, namespaces, settling);
  const inherited = { mode: tenant.spec.mode, ...(tenant.profile !== undefined ? { profile: tenant.profile } : {}) };
  return { status: { observedGeneration: gen, ...inherited, summary: summarize(namespaces), conditions, ...listed(namespaces), intraTenantPeers }, events, settling, all: namespaces };
}

const COUNT_OF: Record<NamespaceState, keyof NamespaceCounts> = {
  Isolated: 'isolated', Pending: 'pending', Conflict: 'conflict', Terminating: 'terminating', WouldIsolate: 'wouldIsolate', Excluded: 'excluded',
};
/** States a tenant's namespaces settle in: listed last when the list is cut, so what needs a look stays in it. */
const SETTLED: ReadonlySet<NamespaceState> = new Set(['Isolated', 'WouldIsolate']);

/**
 * The status list, cut to TENANT_STATUS_LIST_MAX (namespaces that are not settled first), and the exact
 * counts. Everything else in the status (summary, conditions, the peer mode) is computed from the full list.
 */
export function listed(all: readonly NamespaceStatus[]): { namespaces: NamespaceStatus[]; namespaceCounts: NamespaceCounts } {
  const namespaceCounts: NamespaceCounts = { isolated: 0, pending: 0, conflict: 0, terminating: 0, wouldIsolate: 0, excluded: 0 };
  for (const n of all) namespaceCounts[COUNT_OF[n.state]]++;
  if (all.length <= TENANT_STATUS_LIST_MAX) return { namespaces: [...all], namespaceCounts };
  const rank = (n: NamespaceStatus): number => (SETTLED.has(n.state) ? 1 : 0);
  const kept = [...all].sort((a, b) => rank(a) - rank(b) || compareStrings(a.name, b.name)).slice(0, TENANT_STATUS_LIST_MAX);
  return { namespaces: kept.sort((a, b) => compareStrings(a.name, b.name)), namespaceCounts };
}

/**
 * How the tenant's intra-tenant policies name its members. By label only while the admission gate guards
 * the label; the switch from names is made once every isolated member carries it and no other namespace
 * does, so no member loses a peer and no stranger gains one; back to names at once when the guard goes.
 */
function peerMode(input: TenantStatusInput, namespaces: readonly NamespaceStatus[], settling: boolean): PeerMode {
  if (!input.memberLabel.guarded || input.tenant.spec.mode !== 'Enforce') return 'NamespaceNames';
  if (input.object.status?.intraTenantPeers === 'MembershipLabel') return 'MembershipLabel';
  // Started by label (nothing was isolated by name): recorded as it is, with no switch to wait for, unless
  // a stranger carries the label now (it could have been set while the guard was away): then names.
  if (input.object.status?.intraTenantPeers === undefined && input.memberLabel.inUse === 'MembershipLabel') {
    return input.memberLabel.strays.length === 0 ? 'MembershipLabel' : 'NamespaceNames';
  }
  const facts = new Map(input.namespaces.map((f) => [f.name, f]));
  const ready = !settling && input.memberLabel.strays.length === 0
    && namespaces.every((n) => n.state !== 'Isolated' || facts.get(n.name)?.memberLabel === input.tenant.name);
  return ready ? 'MembershipLabel' : 'NamespaceNames';
}

/**
 * The status of a tenant whose spec is invalid, or whose profile is missing or invalid (`reason`): its
 * existing isolation is left as it was.
 */
export function invalidTenantStatus(object: TenantIsolationObject, error: string, now: Date, reason: InvalidReason = 'InvalidSpec', admission?: InvalidTenantAdmission): TenantStatusResult {
  const gen = object.metadata.generation ?? 0;
  const prev = object.status;
  const message = `${error}. Existing isolation is left as it was until ${reason === 'InvalidSpec' ? 'the spec' : 'the profile'} is fixed.`;
  const what = reason === 'InvalidSpec' ? 'spec' : 'profile';
  const gated = admission ? admissionConditions(admission.claims?.tenant, admission.claims?.gate, admission.membershipGuard, reason) : [];
  const c = setConditions(prev?.conditions ?? [], [
    { type: 'Ready', status: 'False', reason, message, observedGeneration: gen },
    // The proof analyses valid tenants only: what it said before the spec turned invalid no longer holds.
    ...(admission?.proof === true ? [{ type: 'Isolated', status: 'Unknown' as const, reason, message: `not proven while the ${what} is invalid`, observedGeneration: gen }] : []),
    ...gated.map((u) => ({ ...u, observedGeneration: gen })),
    { type: 'Reconciling', status: 'False', reason, message: `waiting for a valid ${what}`, observedGeneration: gen },
    { type: 'Stalled', status: 'True', reason, message, observedGeneration: gen },
  ], now).filter((x) => admission?.proof !== false || x.type !== 'Isolated');
  // Announced once per generation and reason: a requeue of the same failure says nothing new.
  const wasReported = prev?.observedGeneration === gen && prev.conditions?.some((x) => x.type === 'Ready' && x.reason === reason);
  const inherited = { ...(prev?.mode !== undefined ? { mode: prev.mode } : {}), ...(prev?.profile !== undefined ? { profile: prev.profile } : {}) };
  return {
    // Its namespaces are left as they are, and so is how their policies name the members.
    status: {
      observedGeneration: gen, ...inherited, summary: reason === 'InvalidSpec' ? 'invalid spec' : 'invalid profile', conditions: c, namespaces: prev?.namespaces ?? [],
      ...(prev?.namespaceCounts ? { namespaceCounts: prev.namespaceCounts } : {}), ...(prev?.intraTenantPeers ? { intraTenantPeers: prev.intraTenantPeers } : {}),
    },
    events: wasReported ? [] : [{ type: 'Warning', reason, message: error }],
    settling: false,
    all: prev?.namespaces ?? [],
  };
}

/**
 * Gated and MembershipGuarded: what the admission gate holds for the namespaces the tenant claims. An
 * invalid tenant's come from the claims it still makes (they stay gated), or are Unknown when its spec is
 * too broken to say what it claims.
 */
function admissionConditions(tenant: ValidTenant | undefined, g: GateFacts | undefined, guard: MembershipGuardState, invalid: InvalidReason = 'InvalidSpec'): Omit<ConditionUpdate, 'observedGeneration'>[] {
  const out: Omit<ConditionUpdate, 'observedGeneration'>[] = [];
  const set = (type: string, status: Condition['status'], reason: string, message: string): void => { out.push({ type, status, reason, message }); };
  if (!tenant || !g) {
    const why = 'the spec is invalid and does not say which namespaces it claims';
    set('Gated', 'Unknown', invalid, why);
    set('MembershipGuarded', 'Unknown', invalid, why);
    return out;
  }
  if (g.policy === undefined) set('Gated', 'False', 'NoDefaultDeny', 'the tenant declares no default-deny, so its pods have nothing to wait for');
  else if (!g.installed) set('Gated', 'False', 'GateNotInstalled', `ValidatingAdmissionPolicy ${g.policy}${g.policy === POD_GATE ? ', or tenant-isolation-member-label (the policy or its binding, which keep the isolated label the operator\'s),' : ''} is not installed (config/admission): pods can start in the tenant's namespaces before they are isolated`);
  else if (!g.bound) set('Gated', 'False', 'Binding', `writing the ${g.policy} bindings for the tenant's namespaces`);
  else if (g.policy === POD_GATE) set('Gated', 'True', 'PodsWaitForIsolation', `a pod starts in the tenant's namespaces only once the namespace holds ${POLICY_DEFAULT_DENY}`);
  else set('Gated', 'True', 'AuditNotice', 'Audit mode: pods are admitted with a warning that nothing isolates them');
  // Whether relabelling can move a namespace into or out of the tenant. Labelling and isolation do not wait
  // for it: the window is one ConfigMap write, and it is reported here.
  const keys = membershipKeys([tenant]);
  const unguarded = keys.filter((k) => !guard.guarded.has(k));
  if (keys.length === 0) set('MembershipGuarded', 'True', 'NamesOnly', 'the tenant claims namespaces by name only: no label moves a namespace into or out of it');
  else if (!guard.installed) set('MembershipGuarded', 'False', 'GuardNotInstalled', `ValidatingAdmissionPolicy tenant-isolation-membership or its binding is not installed (config/admission): anyone who may label a namespace can move it into or out of the tenant by changing ${keys.join(', ')}`);
  else if (unguarded.length > 0) set('MembershipGuarded', 'False', 'KeysNotListed', `label ${unguarded.join(', ')} is not listed yet in ConfigMap ${MEMBERSHIP_KEYS}, which the operator writes: until then changing it needs no membership-editor grant`);
  else set('MembershipGuarded', 'True', 'KeysGuarded', `changing label ${keys.join(', ')} on a namespace needs update on namespacememberships.isolation.tenancy.dev (ClusterRole tenant-isolation-membership-editor)`);
  return out;
}

/** Equal status (ignoring lastTransitionTime) costs no write. */
export function statusDiffers(cur: TenantIsolationStatus, next: TenantIsolationStatus): boolean {
  return !(cur.observedGeneration === next.observedGeneration && cur.summary === next.summary && cur.mode === next.mode && cur.profile === next.profile
    && sameConditions(cur.conditions, next.conditions) && cur.intraTenantPeers === next.intraTenantPeers
    && sameNamespaces(cur.namespaces ?? [], next.namespaces ?? []) && sameCounts(cur.namespaceCounts, next.namespaceCounts));
}

/**
 * Per state, the namespaces a status counts but its cut list leaves out (none while it lists every one).
 * Conflicts are not among them: a conflicted namespace is in several tenants' counts, and only a list says
 * which one it is (the list holds every conflict while at most 1000 namespaces are unsettled).
 */
export function unlisted(status: TenantIsolationStatus): Map<NamespaceState, number> {
  const out = new Map<NamespaceState, number>();
  const counts = status.namespaceCounts;
  if (counts === undefined) return out;
  const shown = new Map<NamespaceState, number>();
  for (const n of status.namespaces ?? []) shown.set(n.state, (shown.get(n.state) ?? 0) + 1);
  for (const [state, key] of Object.entries(COUNT_OF) as [NamespaceState, keyof NamespaceCounts][]) {
    if (state === 'Conflict') continue;
    const rest = counts[key] - (shown.get(state) ?? 0);
    if (rest > 0) out.set(state, rest);
  }
  return out;
}

const sameCounts = (a: NamespaceCounts | undefined, b: NamespaceCounts | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && Object.values(COUNT_OF).every((k) => a[k] === b[k]));

const sameNamespaces = (a: readonly NamespaceStatus[], b: readonly NamespaceStatus[]): boolean =>
  a.length === b.length && a.every((n, i) => n.name === b[i]!.name && n.state === b[i]!.state && n.message === b[i]!.message);

/** "3/3 isolated", "2/3 isolated, 1 conflict", "2 would isolate (Audit)". */
export function summarize(namespaces: readonly NamespaceStatus[]): string {
  const n = (s: string): number => namespaces.filter((x) => x.state === s).length;
  const audit = n('WouldIsolate');
  if (audit > 0 && audit + n('Excluded') === namespaces.length) return `${audit} would isolate (Audit)`;
  const extra = [['Pending', 'pending'], ['Conflict', 'conflict'], ['Terminating', 'terminating'], ['Excluded', 'excluded']]
    .map(([state, word]) => [n(state!), word] as const).filter(([k]) => k > 0).map(([k, word]) => `${k} ${word}`);
  return [`${n('Isolated')}/${namespaces.length - n('Excluded')} isolated`, ...extra].join(', ');
}

/**
 * The fleet gauges' counts from the tenants' statuses: tenants by condition that is True, namespaces by
 * the state their tenants report (a conflicted namespace once), tenants by peer mode. Pure: the manager
 * calls it at scrape time when the caches changed.
 */
export function countFleetStatuses(list: Iterable<TenantIsolationObject>, hasNamespace: (ns: string) => boolean): Pick<FleetCounts, 'tenants' | 'namespaces' | 'peerModes'> {
  // Namespaces by the state their tenants report (a conflicted namespace is in several statuses: once).
  const states = new Map<string, string>();
  /** Namespaces whose state came from a live tenant's status. */
  const liveState = new Set<string>();
  const beyondLists: Record<string, number> = {};
  const tenants: Record<string, number> = Object.fromEntries(TENANT_CONDITIONS.map((c) => [c, 0]));
  const peerModes: Record<string, number> = { MembershipLabel: 0, NamespaceNames: 0 };
  for (const t of list) {
    tenants.all = (tenants.all ?? 0) + 1;
    // Tenants by condition that is True, as the shipped alerts read them (e.g. condition="Stalled").
    for (const c of t.status?.conditions ?? []) if (c.status === 'True') tenants[c.type] = (tenants[c.type] ?? 0) + 1;
    // A status is kept up to date unless its tenant is invalid (Stalled) or deleting: such a frozen one
    // may list namespaces since moved to another tenant, whose live entry wins.
    const st = t.status;
    const live = st !== undefined && !t.metadata.deletionTimestamp && !st.conditions?.some((c) => c.type === 'Stalled' && c.status === 'True');
    for (const n of st?.namespaces ?? []) {
      if (!hasNamespace(n.name) || (!live && liveState.has(n.name))) continue;
      states.set(n.name, n.state);
      if (live) liveState.add(n.name);
    }
    // Past 1000 namespaces a status lists the unsettled ones and counts the rest: counted only when live
    // (a frozen one would count namespaces since deleted or moved).
    if (live) for (const [state, n] of unlisted(st)) beyondLists[state] = (beyondLists[state] ?? 0) + n;
    if (t.status?.intraTenantPeers) peerModes[t.status.intraTenantPeers] = (peerModes[t.status.intraTenantPeers] ?? 0) + 1;
  }
  const namespaces: Record<string, number> = Object.fromEntries(NAMESPACE_STATES.map((s) => [s, 0]));
  for (const s of states.values()) namespaces[s] = (namespaces[s] ?? 0) + 1;
  for (const [s, n] of Object.entries(beyondLists)) namespaces[s] = (namespaces[s] ?? 0) + n;
  return { tenants, namespaces, peerModes };
}
