// The chaos suite's label checker (bench/chaos/labels.ts) on records written by hand: an isolated label
// without a managed default-deny, and a member label on a namespace its tenant does not claim, are found;
// what the operator cannot have known yet, a cluster-admin's break-glass and a terminating namespace are not
// blamed on it.
import { describe, expect, it } from 'vitest';
import { TENANT_LABEL } from '../../bench/chaos/churn.ts';
import { markedWrites } from '../../bench/chaos/history.ts';
import { judgeLabels, OPERATOR_VIEW_LAG_MS } from '../../bench/chaos/labels.ts';
import { DENY, ISOLATED, Recorder } from './chaos-recorder.ts';

const MEMBER_OF = 'isolation.tenancy.dev/member-of';

describe('chaos label checker', () => {
  it('passes the operator\'s order: policies, then the labels; the labels off, then the policies', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a', [MEMBER_OF]: 'a' });
    h.wait();
    h.namespace('n1', {}); // the user takes it out of the tenant, the operator drops its labels first
    h.policy('n1', DENY, 'a', { deleted: true });
    const r = judgeLabels(h, new Set());
    expect(r.violations).toEqual([]);
    expect(r.counts).toMatchObject({ isolatedRuns: 1, memberSets: 1, memberSetsOnRecentState: 0 });
  });

  it('reports an isolated label standing while the default-deny is gone or is not a tenant\'s that claimed the namespace', () => {
    const h = new Recorder();
    h.tenant('a'); h.tenant('b');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a' });
    const gone = h.policy('n1', DENY, 'a', { deleted: true }); // the label still stands
    h.namespace('n2', { [TENANT_LABEL]: 'a' });
    h.isolate('n2', 'b', { [TENANT_LABEL]: 'a' }); // b never claimed n2
    const r = judgeLabels(h, new Set());
    expect(r.violations).toEqual([
      `namespace n1 labelled ${ISOLATED}=true at revision ${gone} (since ${gone - 1n}): it held no ${DENY}`,
      expect.stringMatching(new RegExp(`^namespace n2 labelled ${ISOLATED}=true at revision \\d+ \\(since \\d+\\): its ${DENY} is tenant b's, which did not claim it while labelled$`)),
    ]);
  });

  it('excuses a forged isolated label, a deny a break-glass write removed, and a terminating namespace', () => {
    const h = new Recorder();
    h.tenant('a');
    const forged = h.namespace('n1', { [ISOLATED]: 'true' });
    h.namespace('n2', { [TENANT_LABEL]: 'a' });
    h.isolate('n2', 'a', { [TENANT_LABEL]: 'a' });
    const marked = h.policy('n2', DENY, 'a', { open: true });
    h.policy('n2', DENY, undefined, { deleted: true });
    h.policy('n2', DENY, 'a'); // restored
    h.namespace('n3', { [TENANT_LABEL]: 'a' });
    h.isolate('n3', 'a', { [TENANT_LABEL]: 'a' });
    h.put(h.namespaces, 'n3', { metadata: { name: 'n3', labels: { [TENANT_LABEL]: 'a', [ISOLATED]: 'true' }, deletionTimestamp: 'now' } });
    h.policy('n3', DENY, 'a', { deleted: true });
    const r = judgeLabels(h, new Set([forged, marked]));
    expect(r.violations).toEqual([]);
    expect(r.counts).toMatchObject({ isolatedForged: 1, isolatedWhileTampered: 2, isolatedTerminating: 1 });
    // Unmarked, the same writes are violations.
    expect(judgeLabels(h, new Set()).violations).toHaveLength(3);
  });

  it('reports a member label set for a tenant that does not claim the namespace, or is in Audit', () => {
    const h = new Recorder();
    h.tenant('a'); h.tenant('audit', { mode: 'Audit' });
    h.namespace('n1', { [TENANT_LABEL]: 'b' });
    h.namespace('n2', { [TENANT_LABEL]: 'audit' });
    h.wait(OPERATOR_VIEW_LAG_MS + 1);
    const stray = h.namespace('n1', { [TENANT_LABEL]: 'b', [MEMBER_OF]: 'a' });
    const audit = h.namespace('n2', { [TENANT_LABEL]: 'audit', [MEMBER_OF]: 'audit' });
    const r = judgeLabels(h, new Set());
    expect(r.violations).toEqual([
      `namespace n1 labelled ${MEMBER_OF}=a at revision ${stray}: tenant a does not claim it (enforcing), nor did it in any state the operator may have read`,
      `namespace n2 labelled ${MEMBER_OF}=audit at revision ${audit}: tenant audit does not claim it (enforcing), nor did it in any state the operator may have read`,
    ]);
  });

  it('excuses a member label written onto a relabel the operator had not seen yet, and a forged one', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.namespace('n1', { [TENANT_LABEL]: 'b' }); // the operator still reads the state before
    h.namespace('n1', { [TENANT_LABEL]: 'b', [MEMBER_OF]: 'a' });
    h.namespace('n2', {});
    h.wait(OPERATOR_VIEW_LAG_MS + 1);
    const forged = h.namespace('n2', { [MEMBER_OF]: 'a' });
    const r = judgeLabels(h, new Set([forged]));
    expect(r.violations).toEqual([]);
    expect(r.counts).toMatchObject({ memberSets: 2, memberSetsOnRecentState: 1, memberSetsForged: 1 });
    // Once the relabel is older than the operator's view may be, the same write is a violation.
    const late = new Recorder();
    late.tenant('a');
    late.namespace('n1', { [TENANT_LABEL]: 'a' });
    late.namespace('n1', { [TENANT_LABEL]: 'b' });
    late.wait(OPERATOR_VIEW_LAG_MS + 1);
    late.namespace('n1', { [TENANT_LABEL]: 'b', [MEMBER_OF]: 'a' });
    expect(judgeLabels(late, new Set()).violations).toHaveLength(1);
  });

  it('knows a break-glass write by its mark in the record, also when the churn never saw its response', () => {
    const h = new Recorder();
    const mark = (n: string) => ({ metadata: { name: 'n1', labels: { [ISOLATED]: 'true' }, annotations: { 'chaos.tenancy.dev/break-glass': n } } });
    h.namespace('n1', {});
    const first = h.put(h.namespaces, 'n1', mark('1'));
    h.put(h.namespaces, 'n1', { metadata: { ...mark('1').metadata, labels: { [ISOLATED]: 'true', [MEMBER_OF]: 'a' } } }); // the operator's write keeps the mark
    const second = h.put(h.namespaces, 'n1', mark('2'));
    expect(markedWrites(h, 'chaos.tenancy.dev/break-glass')).toEqual([first, second]);
  });

  it('excuses an opened deny until a version restores it (the operator\'s apply, then its update), not after', () => {
    const h = new Recorder();
    h.tenant('a');
    h.namespace('n1', { [TENANT_LABEL]: 'a' });
    h.isolate('n1', 'a', { [TENANT_LABEL]: 'a' });
    const marked = h.policy('n1', DENY, 'a', { open: true });
    h.policy('n1', DENY, 'a', { open: true }); // the apply keeps the rule another manager set
    h.policy('n1', DENY, 'a'); // the update replaces it: restored
    const reopened = h.policy('n1', DENY, 'a', { open: true }); // unmarked: nothing excuses it
    const r = judgeLabels(h, new Set([marked]));
    expect(r.counts.isolatedWhileTampered).toBe(2);
    expect(r.violations).toEqual([expect.stringContaining(`labelled ${ISOLATED}=true at revision ${reopened} `)]);
  });
});
