// The PrometheusRule's alerts, unit-tested by Prometheus itself (`promtool test rules`, built from the
// pinned Prometheus module): each alert fires on the series that mean trouble, stays silent on healthy
// ones, and says once per problem what it is, however many replicas are scraped.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { dump, load } from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { repo } from '../harness/run.ts';
import { tempDirs } from '../harness/tmp.ts';
import { tool } from '../harness/tools.ts';

const tmp = tempDirs();

interface Rule { alert: string; expr: string; for?: string; labels: Record<string, string>; annotations: Record<string, string> }
interface Group { name: string; rules: Rule[] }
const groups = (): Group[] => (load(readFileSync(join(repo, 'config/prometheus/alerts.yaml'), 'utf8')) as { spec: { groups: Group[] } }).spec.groups;
const rule = (name: string): Rule => groups().flatMap((g) => g.rules).find((r) => r.alert === name)!;

/** An expected alert: its labels and its summary (the templated part); the description is static text. */
const fires = (name: string, summary: string, labels: Record<string, string> = {}) => ({
  exp_labels: { severity: rule(name).labels.severity, ...labels },
  exp_annotations: { summary, description: rule(name).annotations.description },
});
const job = 'tenant-isolation-operator-metrics';
const series = (metric: string, labels: Record<string, string>, values: string) => ({
  series: `${metric}{${Object.entries({ job, ...labels }).map(([k, v]) => `${k}="${v}"`).join(',')}}`, values,
});

/** promtool test cases: one per alert and situation, with the evaluation times that matter. */
const TESTS = [
  { name: 'reconcile errors on one replica fire one alert per failing controller after 10 minutes', interval: '1m',
    input_series: [
      series('controller_runtime_reconcile_errors_total', { controller: 'namespace', pod: 'a' }, '0+2x30'),
      series('controller_runtime_reconcile_errors_total', { controller: 'namespace', pod: 'b' }, '0x30'),
      series('controller_runtime_reconcile_errors_total', { controller: 'tenantisolation', pod: 'a' }, '0x30'),
    ],
    alert_rule_test: [
      { eval_time: '8m', alertname: 'TenantIsolationReconcileErrors', exp_alerts: [] }, // still pending
      { eval_time: '15m', alertname: 'TenantIsolationReconcileErrors', exp_alerts: [fires('TenantIsolationReconcileErrors', 'The namespace controller keeps failing reconciles.', { controller: 'namespace' })] },
    ] },
  { name: 'the pod-gate bindings failing to be written fire too (tenants left ungated)', interval: '1m',
    input_series: [series('controller_runtime_reconcile_errors_total', { controller: 'admissiongate', pod: 'a' }, '0+1x30')],
    alert_rule_test: [
      { eval_time: '15m', alertname: 'TenantIsolationReconcileErrors', exp_alerts: [fires('TenantIsolationReconcileErrors', 'The admissiongate controller keeps failing reconciles.', { controller: 'admissiongate' })] },
    ] },
  { name: 'errors that stopped, or of another controller, do not fire', interval: '1m',
    input_series: [
      series('controller_runtime_reconcile_errors_total', { controller: 'tenantisolation', pod: 'a' }, '7x30'),
      series('controller_runtime_reconcile_errors_total', { controller: 'other', pod: 'a' }, '0+5x30'),
    ],
    alert_rule_test: [{ eval_time: '20m', alertname: 'TenantIsolationReconcileErrors', exp_alerts: [] }] },

  { name: 'a stalled tenant reported by the leader (the standby says 0) fires once', interval: '1m',
    input_series: [
      series('tenant_isolation_tenants', { condition: 'Stalled', pod: 'a' }, '2x10'),
      series('tenant_isolation_tenants', { condition: 'Stalled', pod: 'b' }, '0x10'),
      series('tenant_isolation_tenants', { condition: 'Ready', pod: 'a' }, '3x10'),
    ],
    alert_rule_test: [
      { eval_time: '3m', alertname: 'TenantIsolationStalled', exp_alerts: [] },
      { eval_time: '6m', alertname: 'TenantIsolationStalled', exp_alerts: [fires('TenantIsolationStalled', '2 TenantIsolation(s) are Stalled.')] },
    ] },
  { name: 'no stalled tenant, no alert', interval: '1m',
    input_series: [series('tenant_isolation_tenants', { condition: 'Stalled', pod: 'a' }, '0x10'), series('tenant_isolation_tenants', { condition: 'Ready', pod: 'a' }, '5x10')],
    alert_rule_test: [{ eval_time: '10m', alertname: 'TenantIsolationStalled', exp_alerts: [] }] },

  // 60 isolations a minute, all in the 1-2.5 s bucket: p99 ~2.5 s.
  { name: 'slow isolation (p99 above 1 s) fires', interval: '1m',
    input_series: [
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '0.5', pod: 'a' }, '0x30'),
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '1', pod: 'a' }, '0x30'),
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '2.5', pod: 'a' }, '0+60x30'),
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '+Inf', pod: 'a' }, '0+60x30'),
    ],
    alert_rule_test: [{ eval_time: '25m', alertname: 'TenantIsolationSlowIsolation', exp_alerts: [fires('TenantIsolationSlowIsolation', 'New tenant namespaces take 2.485s (p99) to be isolated.')] }] },
  { name: 'fast isolation does not fire', interval: '1m',
    input_series: [
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '0.5', pod: 'a' }, '0+60x30'),
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '1', pod: 'a' }, '0+60x30'),
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '2.5', pod: 'a' }, '0+60x30'),
      series('tenant_isolation_time_to_isolation_seconds_bucket', { le: '+Inf', pod: 'a' }, '0+60x30'),
    ],
    alert_rule_test: [{ eval_time: '25m', alertname: 'TenantIsolationSlowIsolation', exp_alerts: [] }] },

  { name: 'a namespace claimed twice fires', interval: '1m',
    input_series: [series('tenant_isolation_namespaces', { state: 'Conflict', pod: 'a' }, '1x10'), series('tenant_isolation_namespaces', { state: 'Conflict', pod: 'b' }, '0x10')],
    alert_rule_test: [{ eval_time: '6m', alertname: 'TenantIsolationNamespaceConflict', exp_alerts: [fires('TenantIsolationNamespaceConflict', '1 namespace(s) are claimed by more than one tenant.')] }] },
  { name: 'no conflict, no alert', interval: '1m',
    input_series: [series('tenant_isolation_namespaces', { state: 'Conflict', pod: 'a' }, '0x10'), series('tenant_isolation_namespaces', { state: 'Isolated', pod: 'a' }, '9x10')],
    alert_rule_test: [{ eval_time: '10m', alertname: 'TenantIsolationNamespaceConflict', exp_alerts: [] }] },

  { name: 'a breached tenant fires a critical alert after 2 minutes', interval: '1m',
    input_series: [series('tenant_isolation_breached_tenants', { pod: 'a' }, '0 0 1 1 1 1 1 1'), series('tenant_isolation_breached_tenants', { pod: 'b' }, '0x8')],
    alert_rule_test: [
      { eval_time: '3m', alertname: 'TenantIsolationBreached', exp_alerts: [] },
      { eval_time: '5m', alertname: 'TenantIsolationBreached', exp_alerts: [fires('TenantIsolationBreached', '1 tenant(s) can be reached by, or can reach, pods they do not declare.')] },
    ] },
  { name: 'no breach, no alert', interval: '1m',
    input_series: [series('tenant_isolation_breached_tenants', { pod: 'a' }, '0x10')],
    alert_rule_test: [{ eval_time: '10m', alertname: 'TenantIsolationBreached', exp_alerts: [] }] },

  { name: 'no replica scraped successfully fires, and so does no target at all', interval: '1m',
    input_series: [series('up', { pod: 'a' }, '0x10'), series('up', { pod: 'b' }, '0x10'), series('up', { job: 'other', pod: 'x' }, '1x10')],
    alert_rule_test: [
      { eval_time: '6m', alertname: 'TenantIsolationOperatorDown', exp_alerts: [fires('TenantIsolationOperatorDown', 'No tenant-isolation-operator replica is being scraped successfully.')] },
    ] },
  { name: 'one replica up is enough', interval: '1m',
    input_series: [series('up', { pod: 'a' }, '0x10'), series('up', { pod: 'b' }, '1x10')],
    alert_rule_test: [{ eval_time: '10m', alertname: 'TenantIsolationOperatorDown', exp_alerts: [] }] },
];

let promtool: string;
beforeAll(() => { promtool = tool('promtool'); }, 30 * 60_000);

/** Writes the PrometheusRule's groups as a plain rules file (what promtool reads) and the test cases beside it. */
function writeSuite(ruleGroups: Group[], tests: unknown[]): string {
  const dir = tmp.make('tio-promtool-');
  writeFileSync(join(dir, 'rules.yaml'), dump({ groups: ruleGroups }));
  writeFileSync(join(dir, 'alerts_test.yaml'), dump({ rule_files: ['rules.yaml'], evaluation_interval: '1m', tests }));
  return dir;
}
const promtoolRun = (...args: string[]) => promisify(execFile)(promtool, args).then((r) => ({ code: 0, ...r }), (e: unknown) => e as { code: number; stdout: string; stderr: string });

describe('config/prometheus/alerts.yaml under promtool', () => {
  it('is a valid rules file', async () => {
    const dir = writeSuite(groups(), []);
    const r = await promtoolRun('check', 'rules', join(dir, 'rules.yaml'));
    expect(r.stdout + r.stderr).toMatch(new RegExp(`SUCCESS: ${groups()[0]!.rules.length} rules found`));
    expect(r.code).toBe(0);
  });

  it('every alert fires when it should and stays silent when it should not', async () => {
    // Every alert of the file has a firing and a silent case.
    for (const r of groups().flatMap((g) => g.rules)) {
      const cases = TESTS.flatMap((t) => t.alert_rule_test).filter((c) => c.alertname === r.alert);
      expect(cases.some((c) => c.exp_alerts.length > 0), `${r.alert} has a firing case`).toBe(true);
      expect(cases.some((c) => c.exp_alerts.length === 0), `${r.alert} has a silent case`).toBe(true);
    }
    const dir = writeSuite(groups(), TESTS);
    const r = await promtoolRun('test', 'rules', join(dir, 'alerts_test.yaml'));
    expect(r.stdout + r.stderr, r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.code).toBe(0);
  });

  it('the tests bind to the rules: an alert that lost its "for" or its threshold fails them', async () => {
    for (const mutate of [(r: Rule) => { r.for = '0m'; }, (r: Rule) => { r.expr = r.expr.replace(/> 0$/, '>= 0'); }]) {
      const mutated = groups();
      for (const r of mutated.flatMap((g) => g.rules)) mutate(r);
      const dir = writeSuite(mutated, TESTS);
      const r = await promtoolRun('test', 'rules', join(dir, 'alerts_test.yaml'));
      expect(r.code).not.toBe(0);
      expect(r.stdout + r.stderr).toContain('FAILED');
    }
  });
});
