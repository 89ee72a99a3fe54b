// The operator's namespace labels judged against the record of every stored version (history.ts), at the
// end of a run, without the operator's code. The pod gate and other tenants' intra-tenant policies trust
// these labels, so what they say must be true in every stored state, not only at quiet points:
//
// Isolated: while a namespace is labelled isolation.tenancy.dev/isolated=true, it holds a default-deny the
//   operator manages, denying both ways, of a tenant that claimed the namespace at some point of that run of
//   labelled versions (a relabel moves a namespace before the operator rewrites its policies: the admission
//   checker counts that case apart). The operator sets the label only after the policies are stored and
//   removes it before they go, so no lag excuses this. Excused: a run begun by a cluster-admin's forged label,
//   a deny the churn's break-glass write deleted or opened and no version since restored, a terminating namespace
//   (the namespace controller deletes its policies under the label).
// Member-of: isolation.tenancy.dev/member-of=<tenant> is only set (a version where the label takes that value)
//   on a namespace that tenant, active and enforcing, claims, in the state at that revision or in one the
//   operator may still have been reading: its write has no precondition, so a relabel or a spec edit it had
//   not seen yet when it wrote is excused within OPERATOR_VIEW_LAG_MS (such sets are counted). The operator
//   removes a label that became untrue once it sees why; the quiet-point checks see that it does.
// Runs that touch a gap of the record are counted, not judged.
import { claims, DENY, deniesBoth, ISOLATED, MEMBER_OF, modeOf, notRestoredSinceBreakGlass, OWNER_TENANT } from './claims.ts';
import type { HistoryView, Obj, Version } from './history.ts';

/** How long the operator may act on a namespace or tenant state after it was replaced (its watch's delivery). */
export const OPERATOR_VIEW_LAG_MS = 2_000;

export interface LabelCounts {
  /** Runs of versions labelled isolated=true, and the states judged in them. */
  isolatedRuns: number;
  isolatedStates: number;
  isolatedForged: number;
  isolatedWhileTampered: number;
  isolatedTerminating: number;
  /** Versions where member-of took a tenant's value. */
  memberSets: number;
  memberSetsForged: number;
  /** Sets justified only by a state replaced less than OPERATOR_VIEW_LAG_MS before. */
  memberSetsOnRecentState: number;
  notJudged: number;
}

export const noLabelCounts = (): LabelCounts => ({
  isolatedRuns: 0, isolatedStates: 0, isolatedForged: 0, isolatedWhileTampered: 0, isolatedTerminating: 0,
  memberSets: 0, memberSetsForged: 0, memberSetsOnRecentState: 0, notJudged: 0,
});

export interface LabelResult { checks: number; violations: string[]; counts: LabelCounts }

const labelsOf = (o: Obj | undefined): Record<string, string> => o?.metadata.labels ?? {};

export function judgeLabels(h: HistoryView, breakGlass: ReadonlySet<bigint>, lagMs = OPERATOR_VIEW_LAG_MS): LabelResult {
  const counts = noLabelCounts();
  const violations: string[] = [];
  let checks = 0;
  const inGap = (from: bigint, to: bigint) => h.gaps.some((g) => g.to >= from && g.from < to);
  const changesIn = (vs: readonly Version[], from: bigint, to: bigint) => vs.filter((v) => v.rv > from && v.rv <= to).map((v) => v.rv);
  // The earliest revision whose state the operator may still have been acting on at a write seen at `seenAt`.
  const readFrom = (vs: readonly Version[], rv: bigint, seenAt: number): bigint =>
    vs.filter((x) => x.rv < rv && x.seenAt >= seenAt - lagMs).reduce((a, x) => (x.rv - 1n < a ? x.rv - 1n : a), rv - 1n);
  // Whether the tenant named claimed the namespace at some revision in [from, to] (states change only at
  // versions); `enforcing`: and was in Enforce mode then.
  const claimedDuring = (tenant: string, ns: string, from: bigint, to: bigint, enforcing = false): boolean => {
    const points = [from, ...changesIn(h.tenants.versions(tenant), from, to), ...changesIn(h.namespaces.versions(ns), from, to)];
    return points.some((p) => {
      const t = h.tenants.at(tenant, p);
      const n = h.namespaces.at(ns, p);
      return t !== undefined && n !== undefined && !t.metadata.deletionTimestamp && (!enforcing || modeOf(t) === 'Enforce') && claims(t, ns, labelsOf(n));
    });
  };

  for (const ns of h.namespaces.keys()) {
    const versions = h.namespaces.versions(ns);
    const deny = `${ns}/${DENY}`;
    for (let i = 0; i < versions.length; i++) {
      const v = versions[i]!;
      if (!v.obj) continue;

      // A run of versions labelled isolated=true starts here: judge it through its end.
      if (labelsOf(v.obj)[ISOLATED] === 'true' && !(i > 0 && versions[i - 1]!.obj && labelsOf(versions[i - 1]!.obj)[ISOLATED] === 'true')) {
        let j = i;
        while (j + 1 < versions.length && versions[j + 1]!.obj && labelsOf(versions[j + 1]!.obj)[ISOLATED] === 'true') j++;
        const start = v.rv;
        // The run ends where the next version replaced it (or runs on to the end of the record).
        const end = j + 1 < versions.length ? versions[j + 1]!.rv - 1n : undefined;
        counts.isolatedRuns++;
        const terminatingAt = versions.slice(i, j + 1).find((x) => x.obj!.metadata.deletionTimestamp)?.rv;
        const last = terminatingAt !== undefined ? terminatingAt - 1n : end;
        if (breakGlass.has(start)) { counts.isolatedForged++; continue; }
        if (inGap(start, last ?? start)) { counts.notJudged++; continue; }
        if (terminatingAt !== undefined) counts.isolatedTerminating++;
        const pvs = h.policies.versions(deny);
        const points = [start, ...pvs.filter((p) => p.rv > start && (last === undefined || p.rv <= last)).map((p) => p.rv)];
        for (const p of points) {
          if (last !== undefined && p > last) continue;
          counts.isolatedStates++;
          checks++;
          const k = h.policies.indexAt(deny, p);
          const policy = k >= 0 ? pvs[k]!.obj : undefined;
          const tampered = k >= 0 && notRestoredSinceBreakGlass(pvs, k, breakGlass, deniesBoth);
          const owner = policy ? labelsOf(policy)[OWNER_TENANT] : undefined;
          const wrong = !policy ? `it held no ${DENY}`
            : !deniesBoth(policy) ? `its ${DENY} does not deny both ways`
              : owner === undefined || !claimedDuring(owner, ns, readFrom([...versions.slice(0, i), ...h.tenants.versions(owner)], start, v.seenAt), p)
                ? `its ${DENY} is tenant ${owner}'s, which did not claim it while labelled` : undefined;
          if (wrong === undefined) continue;
          if (tampered) { counts.isolatedWhileTampered++; continue; }
          violations.push(`namespace ${ns} labelled ${ISOLATED}=true at revision ${p} (since ${start}): ${wrong}`);
        }
      }

      // member-of set to a tenant's name here.
      const member = labelsOf(v.obj)[MEMBER_OF];
      const before = i > 0 && versions[i - 1]!.obj ? labelsOf(versions[i - 1]!.obj)[MEMBER_OF] : undefined;
      if (member === undefined || member === before) continue;
      counts.memberSets++;
      if (breakGlass.has(v.rv)) { counts.memberSetsForged++; continue; }
      // The states the operator may have acted on: the one it wrote onto, and those replaced within the lag.
      const from = readFrom([...versions.slice(0, i), ...h.tenants.versions(member)], v.rv, v.seenAt);
      if (inGap(from, v.rv)) { counts.notJudged++; continue; }
      checks++;
      if (claimedDuring(member, ns, v.rv, v.rv, true)) continue;
      if (claimedDuring(member, ns, from, v.rv, true)) { counts.memberSetsOnRecentState++; continue; }
      violations.push(`namespace ${ns} labelled ${MEMBER_OF}=${member} at revision ${v.rv}: tenant ${member} ${h.tenants.at(member, v.rv) ? 'does not claim it (enforcing)' : 'does not exist'}, nor did it in any state the operator may have read`);
    }
  }
  return { checks, violations, counts };
}
