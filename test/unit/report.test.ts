// The picture outputs' data: a pod matrix only while it can be drawn, and the breach cells of the
// tenant matrix where a breach runs on the matrix's port.
import { describe, expect, it } from 'vitest';
import { IsolationAnalyzer } from '../../src/analysis/analyzer.ts';
import { POD_MATRIX_LIMIT, buildReport } from '../../src/report/report.ts';
import { renderHtml } from '../../src/report/html.ts';
import { np, ns, pod, snapshot } from './analysis/builders.ts';
import { tenant } from './fixtures.ts';

const report = (pods: number) => {
  const s = snapshot([ns('a')], Array.from({ length: pods }, (_, i) => pod('a', `p${i}`)), []);
  const a = IsolationAnalyzer.fromSnapshot(s);
  return buildReport(a, s, { source: 'test', port: 80, protocol: 'TCP', breaches: [] });
};

describe('the html report', () => {
  it(`embeds the pod matrix up to ${POD_MATRIX_LIMIT} pods and names the JSON command above`, () => {
    const small = renderHtml(report(3));
    expect(small).toContain('id="report-data"');
    expect(small).not.toContain('pod-matrix-too-large');
    const big = renderHtml(report(POD_MATRIX_LIMIT + 1));
    expect(big).not.toContain('id="report-data"');
    expect(big).toContain(`${POD_MATRIX_LIMIT + 1} pods are more than a matrix can show`);
    expect(big).toContain('tenant-isolation verify --pods --port 80 --protocol TCP -o json');
  });

  it('marks a tenant pair red only where a breach runs on the matrix port', () => {
    const t = tenant('t', { namespaces: ['t-a'] });
    const s = snapshot([ns('t-a'), ns('other')], [pod('t-a', 'app'), pod('other', 'client')], [
      np('t-a', 'deny', { policyTypes: ['Ingress', 'Egress'] }),
      np('t-a', 'open-8080', { policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 8080 }] }] }),
    ]);
    const a = IsolationAnalyzer.fromSnapshot(s, [t], new Map([['t', ['t-a']]]));
    const breaches = a.breaches('t');
    expect(breaches.length).toBeGreaterThan(0);
    const on = (port: number) => buildReport(a, s, { source: 'test', port, protocol: 'TCP', breaches });
    expect(on(8080).breachCells).toEqual([['(no tenant)', 't']]);
    expect(on(8080).edges).toEqual([{ from: 'other', to: 't-a', pairs: 1, breach: true }]);
    expect(on(80).breachCells).toEqual([]);
    expect(on(80).edges.filter((e) => e.to === 't-a')).toEqual([]);
  });
});
