// The chaos suite's admission checker (bench/chaos/admission.ts) on recorded histories written by hand:
// it must find a pod admitted before isolation, and must not blame the operator for what the gate does
// not promise (no tenant, Audit, not yet gated, a label state the apiserver may not have seen yet, a
// cluster-admin's break-glass).
import { describe, expect, it } from 'vitest';
import { judgeAdmissions, type PodAttempt } from '../../bench/chaos/admission.ts';
import { TENANT_LABEL } from '../../bench/chaos/churn.ts';
import { DENY, DNS, ISOLATED, Recorder } from './chaos-recorder.ts';

describe('chaos admission checker', () => {
  it('passes a pod admitted once its namespace holds its tenant\'s policies', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a' });
    const r = judgeAdmissions(h, [h.pod('n1')], new Set());
    expect(r.violations).toEqual([]);
    expect(r.counts.admittedIsolatedByTheirTenant).toBe(1);
    expect(r.checks).toBe(4);
  });

  it('reports a pod admitted into a gated tenant\'s namespace before isolation (the gate binding was removed)', () => {
    const h = new Recorder();
    h.tenant('a'); // the status still says Gated: nothing refuses the pod all the same
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    const early = h.pod('n1', 'after-create');
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a' });
    const r = judgeAdmissions(h, [early, h.pod('n1')], new Set());
    expect(r.violations).toEqual([`pod n1/${early.name} admitted at revision ${early.rv} (after-create; gate claimed by a): it held no ${DENY}; it was not labelled ${ISOLATED}=true in any state the gate may have read`]);
    expect(r.counts.admittedIsolatedByTheirTenant).toBe(1);
  });

  it('reports isolation by another tenant\'s policies when the namespace was its tenant\'s when labelled', () => {
    const h = new Recorder();
    h.tenant('a'); h.tenant('b');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.policy('n1', DENY, 'b'); h.policy('n1', DNS, 'b');
    h.namespace('n1', { [TENANT_LABEL]: 'a', [ISOLATED]: 'true' });
    const r = judgeAdmissions(h, [h.pod('n1')], new Set());
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toContain(`${DENY} is tenant b's, not tenant a's; ${DNS} is tenant b's, not tenant a's`);
  });

  it('owes nothing outside tenants, to Audit tenants, or while the tenant does not say its current claims are gated', () => {
    const h = new Recorder();
    h.tenant('audit', { mode: 'Audit' });
    h.tenant('new', { gated: false });
    h.tenant('edited', { generation: 2 }); // gated for generation 2, then it names one more namespace
    const g2 = h.tenants.at('edited', h.rv)!;
    h.tenants.add('edited', { rv: ++h.rv, seenAt: h.now += 10, obj: { ...g2, metadata: { ...g2.metadata, generation: 3 }, spec: { ...g2.spec as object, namespaces: ['other'] } } });
    h.namespace('free', {});
    h.namespace('n-audit', { [TENANT_LABEL]: 'audit' });
    h.namespace('n-new', { [TENANT_LABEL]: 'new' });
    h.namespace('n-edited', { [TENANT_LABEL]: 'edited' });
    const r = judgeAdmissions(h, [h.pod('free'), h.pod('n-audit'), h.pod('n-new'), h.pod('n-edited')], new Set());
    expect(r.violations).toEqual([]);
    expect(r.counts).toMatchObject({ admittedOutsideTenants: 1, admittedAudit: 1, admittedNotGated: 2 });
  });

  it('holds the gate to a claim made for an earlier generation when later ones kept the claims (an allow-list edit)', () => {
    const h = new Recorder();
    h.tenant('a', { generation: 2 });
    const g2 = h.tenants.at('a', h.rv)!;
    h.tenants.add('a', { rv: ++h.rv, seenAt: h.now += 10, obj: { ...g2, metadata: { ...g2.metadata, generation: 3 }, spec: { ...g2.spec as object, intraTenant: { enabled: false } } } });
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    const early = h.pod('n1');
    const r = judgeAdmissions(h, [early], new Set());
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toContain(`pod n1/${early.name} admitted`);
  });

  it('does not oblige the gate while the apiserver may still read the namespace\'s labels from before a relabel', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', {});
    h.wait();
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    const racing = h.pod('n1', 'after-relabel');
    h.wait();
    const later = h.pod('n1');
    const r = judgeAdmissions(h, [racing, later], new Set());
    expect(r.counts.admittedNotGated).toBe(1);
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]).toContain(`pod n1/${later.name}`);
  });

  it('counts a namespace moved to another tenant before the operator rewrote it, and checks its default-deny', () => {
    const h = new Recorder();
    h.tenant('a'); h.tenant('b');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a' });
    h.wait();
    h.namespace('n1', { [TENANT_LABEL]: 'b', [ISOLATED]: 'true' });
    h.wait();
    const moved = h.pod('n1');
    h.policy('n1', DENY, undefined, { deleted: true });
    const open = h.pod('n1');
    const r = judgeAdmissions(h, [moved, open], new Set());
    expect(r.counts.admittedMovedBeforeRewrite).toBe(1);
    expect(r.violations).toEqual([`pod n1/${open.name} admitted at revision ${open.rv} (random; gate claimed by b): it held no ${DENY}`]);
  });

  it('needs only a default-deny in a namespace two tenants claim', () => {
    const h = new Recorder();
    h.tenant('a'); h.tenant('b', { names: ['n1'] });
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.policy('n1', DENY, 'a');
    h.namespace('n1', { [TENANT_LABEL]: 'a', [ISOLATED]: 'true' });
    const r = judgeAdmissions(h, [h.pod('n1')], new Set());
    expect(r.violations).toEqual([]);
    expect(r.counts.admittedInConflictOrInvalid).toBe(1);
  });

  it('excuses what a cluster-admin\'s marked break-glass write removed or forged, and nothing else', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a' });
    const marked = h.policy('n1', DENY, 'a');
    h.policy('n1', DENY, undefined, { deleted: true });
    const afterTamper = h.pod('n1');
    h.namespace('n2', { [TENANT_LABEL]: 'a' });
    const forged = h.namespace('n2', { [TENANT_LABEL]: 'a', [ISOLATED]: 'true' });
    const afterForgery = h.pod('n2');
    h.namespace('n3', { [TENANT_LABEL]: 'a' });
    h.policy('n3', DENY, 'a', { open: true }); // opened, but not by a marked write
    h.namespace('n3', { [TENANT_LABEL]: 'a', [ISOLATED]: 'true' });
    const unexcused = h.pod('n3');
    const r = judgeAdmissions(h, [afterTamper, afterForgery, unexcused], new Set([marked, forged]));
    expect(r.counts.admittedAfterBreakGlass).toBe(2);
    expect(r.violations).toEqual([`pod n3/${unexcused.name} admitted at revision ${unexcused.rv} (random; gate claimed by a): its ${DENY} does not deny both ways`]);
  });

  it('judges nothing inside a gap of the record, and counts refusals', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    const lost = h.pod('n1');
    h.gaps.push({ kind: 'policies', from: lost.rv! - 1n, to: lost.rv! + 5n });
    const refused: PodAttempt = { namespace: 'n1', name: 'x', sentAt: h.now, moment: 'after-create', outcome: 'refused-by-gate' };
    const r = judgeAdmissions(h, [lost, refused], new Set());
    expect(r.violations).toEqual([]);
    expect(r.counts).toMatchObject({ notJudged: 1, admitted: 1, refusedByGate: 1, byMoment: { random: { admitted: 1, refusedByGate: 0 }, 'after-create': { admitted: 0, refusedByGate: 1 } } });
  });
});
