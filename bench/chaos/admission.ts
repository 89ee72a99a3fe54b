// The admission invariant of the chaos suite: no pod is admitted into a tenant's namespace before the
// namespace is isolated. The churn records every pod it tried to create (admitted pods with their creation
// revision); the History records, from before the run, every version of every tenant, namespace and
// NetworkPolicy with its revision. For each admitted pod this file rebuilds the cluster as it was at the
// pod's revision (revisions are etcd's single counter: history.ts) and decides, without the operator's code:
//
// Obliged: the gate had to hold the pod if, in every state of the namespace the apiserver may have read,
//   some enforcing tenant claiming it said Gated=True/PodsWaitForIsolation for a generation of its spec
//   whose mode and claims every later generation kept (the bindings depend on nothing else: an edit of its
//   allow list, or an invalid spec, which keeps its claims and bindings, leaves the gate in force).
//   The gate reads namespaces from the apiserver's informer, which can trail a relabel (a namespace it has
//   not seen yet is read live, so a new namespace is always current). Our watch and that informer are fed
//   by the same watch cache, so a state our watch saw replaced more than NAMESPACE_CACHE_LAG_MS before the
//   pod was sent is no longer what the gate reads; every later one may be.
// Then, at the pod's revision:
//   1. the namespace held the operator's default-deny, denying both ways (any tenant's: a conflict's, or
//      a fail-closed one of an invalid tenant, is one);
//   2. the gate had a reason to admit: some state it may have read carried isolated=true;
//   3. if one valid enforcing tenant T claims it, and has since before the operator last labelled it
//      isolated (so the label was about T), the default-deny and allow-dns are T's (label and owner uid).
//      A namespace moved from one tenant to another keeps the old tenant's label until the operator
//      rewrites its policies: pods admitted then are counted (movedBeforeRewrite), with 1 and 2 checked.
// The churn's break-glass writes as a cluster-admin (it marks them and keeps their revisions): a managed
// policy deleted or opened up excuses 1 and 3 for that policy; an isolated label it forged, when the gate
// may have read it, excuses the pod. The operator repairs both; the quiet-point checks see that it does.
// Pods whose revision falls in a gap of the record are counted, not judged.
import { claimKey, claims, DENY, deniesBoth, DNS, gatedGeneration, notRestoredSinceBreakGlass, ISOLATED, isInvalid, MANAGED_BY, modeOf, OPERATOR, OWNER_TENANT, type TenantLike } from './claims.ts';
import type { HistoryView, Obj } from './history.ts';

/** How far the apiserver's namespace informer may trail our watch of the same watch cache. */
export const NAMESPACE_CACHE_LAG_MS = 2_000;

export interface PodAttempt {
  namespace: string;
  name: string;
  /** performance.now() when the create was sent (the History's clock). */
  sentAt: number;
  /** Why the churn tried then: a random moment, right after creating the labelled namespace, right after relabelling it. */
  moment: 'random' | 'after-create' | 'after-relabel';
  outcome: 'admitted' | 'refused-by-gate' | 'refused' | 'failed';
  /** The pod's creation revision (admitted pods). */
  rv?: bigint;
}

export interface AdmissionCounts {
  attempts: number;
  admitted: number;
  refusedByGate: number;
  refusedOther: number;
  failed: number;
  /** Admitted pods by what the gate owed them. */
  admittedIsolatedByTheirTenant: number;
  admittedInConflictOrInvalid: number;
  admittedMovedBeforeRewrite: number;
  admittedOutsideTenants: number;
  admittedAudit: number;
  admittedNotGated: number;
  /** Admitted while a break-glass write (a policy tampered with, a forged label) stood. */
  admittedAfterBreakGlass: number;
  notJudged: number;
  byMoment: Record<string, { admitted: number; refusedByGate: number }>;
}

export interface AdmissionResult { checks: number; violations: string[]; counts: AdmissionCounts }

const labelsOf = (o: Obj | undefined): Record<string, string> => o?.metadata.labels ?? {};
const active = (t: Obj): boolean => !t.metadata.deletionTimestamp;
const ownedBy = (p: Obj | undefined, t: TenantLike): boolean =>
  p !== undefined && labelsOf(p)[MANAGED_BY] === OPERATOR && labelsOf(p)[OWNER_TENANT] === t.metadata.name && (p.metadata.ownerReferences ?? []).some((o) => o.uid === t.metadata.uid);

export function judgeAdmissions(h: HistoryView, attempts: readonly PodAttempt[], breakGlass: ReadonlySet<bigint>, lagMs = NAMESPACE_CACHE_LAG_MS): AdmissionResult {
  const counts: AdmissionCounts = {
    attempts: attempts.length, admitted: 0, refusedByGate: 0, refusedOther: 0, failed: 0,
    admittedIsolatedByTheirTenant: 0, admittedInConflictOrInvalid: 0, admittedMovedBeforeRewrite: 0, admittedOutsideTenants: 0,
    admittedAudit: 0, admittedNotGated: 0, admittedAfterBreakGlass: 0, notJudged: 0, byMoment: {},
  };
  const violations: string[] = [];
  let checks = 0;
  const tenantsAt = (rv: bigint) => h.tenants.allAt(rv).filter(active);
  const claimantsAt = (ns: string, labels: Record<string, string>, rv: bigint) => tenantsAt(rv).filter((t) => claims(t, ns, labels));
  const inGap = (from: bigint, to: bigint) => h.gaps.some((g) => g.to >= from && g.from < to);
  // Whether the tenant (as at revision r) claims the gate for a generation whose claims it has kept since.
  const gated = (t: TenantLike, r: bigint): boolean => {
    const g = gatedGeneration(t);
    if (g === undefined || modeOf(t) !== 'Enforce') return false;
    const vs = h.tenants.versions(t.metadata.name);
    for (let i = h.tenants.indexAt(t.metadata.name, r); i >= 0 && vs[i]!.obj?.metadata.uid === t.metadata.uid; i--) {
      const v = vs[i]!.obj!;
      if ((v.metadata.generation ?? 0) < g) return false;
      if (claimKey(v) !== claimKey(t)) return false;
      if (v.metadata.generation === g) return true;
    }
    return false;
  };

  for (const a of attempts) {
    const m = (counts.byMoment[a.moment] ??= { admitted: 0, refusedByGate: 0 });
    if (a.outcome === 'refused-by-gate') { counts.refusedByGate++; m.refusedByGate++; continue; }
    if (a.outcome === 'refused') { counts.refusedOther++; continue; }
    if (a.outcome === 'failed') { counts.failed++; continue; }
    counts.admitted++; m.admitted++;
    const r = a.rv!;
    const ns = a.namespace;
    const versions = h.namespaces.versions(ns);
    const k = h.namespaces.indexAt(ns, r);
    if (k < 0 || !versions[k]!.obj) { counts.notJudged++; continue; }
    // The states the gate may have read: the one at r, and earlier ones replaced less than the lag ago.
    const candidates = [k];
    for (let j = k - 1; j >= 0 && versions[j]!.obj && versions[j + 1]!.seenAt >= a.sentAt - lagMs; j--) candidates.push(j);
    if (inGap(versions[candidates.at(-1)!]!.rv, r)) { counts.notJudged++; continue; }
    const stateAt = (j: number) => labelsOf(versions[j]!.obj);
    // Where the namespace's run of versions labelled isolated=true that includes version j began.
    const labelledFrom = (j: number) => { while (j > 0 && versions[j - 1]!.obj && stateAt(j - 1)[ISOLATED] === 'true') j--; return j; };
    const gatedBy = candidates.map((j) => claimantsAt(ns, stateAt(j), r).filter((t) => gated(t, r)));
    const claimNow = claimantsAt(ns, stateAt(k), r);
    if (!gatedBy.every((ts) => ts.length > 0)) {
      if (claimNow.length === 0) counts.admittedOutsideTenants++;
      else if (claimNow.every((t) => modeOf(t) === 'Audit')) counts.admittedAudit++;
      else counts.admittedNotGated++;
      continue;
    }

    const policy = (name: string) => h.policies.at(`${ns}/${name}`, r);
    // Deleted or opened up by the churn's marked write, and not yet restored by the operator.
    const tampered = (name: string): boolean => {
      const key = `${ns}/${name}`;
      const i = h.policies.indexAt(key, r);
      return i >= 0 && notRestoredSinceBreakGlass(h.policies.versions(key), i, breakGlass, name === DENY ? deniesBoth : () => true);
    };
    const isolatedAt = candidates.filter((j) => stateAt(j)[ISOLATED] === 'true');
    // A forged isolated label the gate may have read excuses what is missing; a tampered policy, itself.
    const forged = isolatedAt.some((j) => breakGlass.has(versions[labelledFrom(j)]!.rv));
    const wrong: string[] = [];
    let excused = false;
    const deny = policy(DENY);
    checks++;
    if (!deny || !deniesBoth(deny)) {
      if (forged || tampered(DENY)) excused = true;
      else wrong.push(deny ? `its ${DENY} does not deny both ways` : `it held no ${DENY}`);
    }
    checks++;
    if (isolatedAt.length === 0) wrong.push(`it was not labelled ${ISOLATED}=true in any state the gate may have read`);

    let kind: 'own' | 'moved' | 'shared' = 'shared';
    const sole = claimNow.length === 1 && !isInvalid(claimNow[0]!) && modeOf(claimNow[0]!) === 'Enforce' ? claimNow[0]! : undefined;
    if (sole && wrong.length === 0 && !excused) {
      // When the oldest isolated label the gate may have read was set.
      const labelledAt = versions[labelledFrom(Math.min(...isolatedAt))]!.rv;
      if (inGap(labelledAt, r)) { counts.notJudged++; continue; }
      kind = 'moved';
      if (soleClaimantThroughout(h, ns, sole, labelledAt, r)) {
        kind = 'own';
        for (const name of [DENY, DNS]) {
          checks++;
          const p = policy(name);
          if (ownedBy(p, sole)) continue;
          if (forged || tampered(name)) excused = true;
          else wrong.push(`${name} is ${p ? `tenant ${labelsOf(p)[OWNER_TENANT]}'s` : 'missing'}, not tenant ${sole.metadata.name}'s`);
        }
      }
    }
    if (wrong.length > 0) {
      const gate = [...new Set(gatedBy.flat().map((t) => t.metadata.name))].join(', ');
      violations.push(`pod ${ns}/${a.name} admitted at revision ${r} (${a.moment}; gate claimed by ${gate}): ${wrong.join('; ')}`);
    } else if (excused) counts.admittedAfterBreakGlass++;
    else if (kind === 'own') counts.admittedIsolatedByTheirTenant++;
    else if (kind === 'moved') counts.admittedMovedBeforeRewrite++;
    else counts.admittedInConflictOrInvalid++;
  }
  return { checks, violations, counts };
}

/** Whether `t` (same uid) was the namespace's only claimant, valid and enforcing, at every revision in [from, to]. */
function soleClaimantThroughout(h: HistoryView, ns: string, t: TenantLike, from: bigint, to: bigint): boolean {
  const points = new Set<bigint>([from]);
  const inRange = (vs: readonly { rv: bigint }[]) => { for (const v of vs) if (v.rv > from && v.rv <= to) points.add(v.rv); };
  inRange(h.namespaces.versions(ns));
  for (const key of h.tenants.keys()) inRange(h.tenants.versions(key));
  for (const p of points) {
    const n = h.namespaces.at(ns, p);
    if (!n) return false;
    const c = h.tenants.allAt(p).filter((x) => active(x) && claims(x, ns, labelsOf(n)));
    if (c.length !== 1 || c[0]!.metadata.uid !== t.metadata.uid || isInvalid(c[0]!) || modeOf(c[0]!) !== 'Enforce') return false;
  }
  return true;
}
