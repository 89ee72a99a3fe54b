// podInfo: what the analysis reads of a Pod, from the informer or from manifests.
import { describe, expect, it } from 'vitest';
import { IsolationAnalyzer } from '../../src/analysis/analyzer.ts';
import { podInfo } from '../../src/controller/isolation-proof.ts';
import { planNamespace, policiesToApply } from '../../src/policy/desired.ts';
import { tenant } from './fixtures.ts';
import { np } from './analysis/builders.ts';

describe('podInfo', () => {
  it('reads the ports of init containers too (native sidecars and the rest), so named ports resolve on them', () => {
    const web = podInfo({
      metadata: { name: 'web', namespace: 't-a' },
      spec: {
        containers: [{ ports: [{ name: 'http', containerPort: 8080 }] }],
        initContainers: [{ ports: [{ name: 'metrics', containerPort: 9090 }] }, { ports: [{ name: 'warmup', containerPort: 7000, protocol: 'UDP' }] }],
      },
      status: { podIP: '10.0.0.1' },
    });
    expect(web.containerPorts).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'metrics', containerPort: 9090, protocol: 'TCP' }, { name: 'warmup', containerPort: 7000, protocol: 'UDP' },
    ]);
    // A tenant policy letting every namespace reach the sidecar's "metrics" port is a breach.
    const t = tenant('t', { namespaces: ['t-a'], dns: { enabled: false } });
    const members = new Map([['t', ['t-a']]]);
    const policies = [...policiesToApply(planNamespace('t-a', [t], () => ['t-a'])),
      np('t-a', 'metrics', { policyTypes: ['Ingress'], ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ protocol: 'TCP', port: 'metrics' }] }] })];
    const prom = podInfo({ metadata: { name: 'prom', namespace: 'mon' }, spec: { containers: [{}] }, status: { podIP: '10.0.0.2' } });
    const a = IsolationAnalyzer.fromSnapshot({ namespaces: [{ name: 't-a' }, { name: 'mon' }], pods: [web, prom], policies }, [t], members);
    expect(a.breaches('t').map((b) => `${b.direction} ${b.peer} ${b.protocol}/${b.port}`)).toEqual(['ingress namespace mon TCP/9090']);
  });
});
