// The Helm chart and the kustomize manifests are one product: with default values the chart renders
// exactly config/default (and config/prometheus when monitoring is on), so neither can drift, and a
// manifest added to config/default (the admission gate, say) fails here until the chart has it too.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHART, NAMESPACE, drift, helm, helmTemplate, keyOf, kustomize, repo, type Obj } from '../harness/chart.ts';
import { tempDirs } from '../harness/tmp.ts';
import { kubectlPath, tool } from '../harness/tools.ts';

const tmp = tempDirs();

/** What the chart deliberately does not render, and why (each is documented in docs/install.md). */
const EXCEPTIONS = {
  [`Namespace ${NAMESPACE}`]: 'Helm creates the release namespace (helm install --create-namespace)',
};
const MONITORING = ['monitoring.serviceMonitor.enabled=true', 'monitoring.prometheusRule.enabled=true', 'monitoring.dashboard.enabled=true'];

beforeAll(() => { tool('helm'); kubectlPath(); }, 30 * 60_000);

const deployment = (objs: Obj[]) => objs.find((o) => o.kind === 'Deployment') as Obj & { spec: { replicas: number; template: { spec: { containers: { args: string[]; env: { name: string; value?: string }[]; image: string; resources: unknown; ports: { name: string; containerPort: number }[] }[]; volumes?: unknown[] } } } };
const container = (objs: Obj[]) => deployment(objs).spec.template.spec.containers[0]!;

describe('the Helm chart against config/', () => {
  it('with default values renders exactly config/default, CRD included', () => {
    const k = kustomize(join(repo, 'config/default'));
    expect(k.length).toBeGreaterThan(15);
    expect(drift(k, helmTemplate(), EXCEPTIONS)).toEqual([]);
  });

  it('with monitoring on renders exactly config/default plus config/prometheus', () => {
    const k = [...kustomize(join(repo, 'config/default')), ...kustomize(join(repo, 'config/prometheus'))];
    expect(drift(k, helmTemplate(MONITORING), EXCEPTIONS)).toEqual([]);
  });

  it('shares the CRD, the alert rules and the dashboard byte for byte (hack/sync-chart.sh copies them)', () => {
    for (const [src, copy] of [
      ['crds/isolation.tenancy.dev_tenantisolations.yaml', 'crds/isolation.tenancy.dev_tenantisolations.yaml'],
      ['crds/isolation.tenancy.dev_isolationprofiles.yaml', 'crds/isolation.tenancy.dev_isolationprofiles.yaml'],
      ['crds/isolation.tenancy.dev_isolationbaselines.yaml', 'crds/isolation.tenancy.dev_isolationbaselines.yaml'],
      ['config/prometheus/alerts.yaml', 'files/alerts.yaml'],
      ['config/prometheus/grafana-dashboard.json', 'files/grafana-dashboard.json'],
    ]) expect(readFileSync(join(CHART, copy!), 'utf8'), `${copy} differs from ${src}: run hack/sync-chart.sh`).toBe(readFileSync(join(repo, src!), 'utf8'));
  });

  it('fails when config/default gains a manifest the chart does not render, or when they differ', () => {
    const config = join(tmp.make('tio-drift-'), 'config');
    cpSync(join(repo, 'config'), config, { recursive: true });
    // A new manifest in a directory config/default includes, as the admission gate will add.
    writeFileSync(join(config, 'manager/admission.yaml'), 'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: tenant-isolation-future-policy}\nspec: {validations: [{expression: "true"}]}\n');
    const kust = readFileSync(join(config, 'manager/kustomization.yaml'), 'utf8');
    writeFileSync(join(config, 'manager/kustomization.yaml'), `${kust.trimEnd()}\n  - admission.yaml\n`);
    const missing = drift(kustomize(join(config, 'default')), helmTemplate(), EXCEPTIONS);
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatch(/^ValidatingAdmissionPolicy (\S+\/)?tenant-isolation-future-policy: in config\/ but not rendered by the chart \(add a template under charts\/tenant-isolation-operator\/templates\/\)$/);
    // A value that no longer matches (replicas) is named with its path.
    const problems = drift(kustomize(join(repo, 'config/default')), helmTemplate(['replicas=3']), EXCEPTIONS);
    expect(problems).toEqual([`Deployment ${NAMESPACE}/tenant-isolation-operator: .spec.replicas: kustomize 2 / chart 3`]);
  });
});

describe('the chart\'s values', () => {
  it('set image, replicas, resources, NODE_OPTIONS, log level and extra flags', () => {
    const objs = helmTemplate(['image.repository=registry.example/tio', 'image.tag=1.2.3', 'replicas=1', 'logLevel=debug', 'nodeOptions=--max-old-space-size=768',
      'resources.limits.memory=1Gi', 'extraArgs[0]=--concurrency=8', 'leaderElection.enabled=false']);
    const c = container(objs);
    expect(deployment(objs).spec.replicas).toBe(1);
    // Without leader election there is no lease to take, so no Role to take it with.
    expect(objs.map(keyOf).filter((k) => k.includes('leader-election'))).toEqual([]);
    expect(deployment(helmTemplate(['replicas=3'])).spec.replicas).toBe(3);
    expect(c.image).toBe('registry.example/tio:1.2.3');
    // By digest: a tag can be moved to another image, a digest cannot; a malformed one is refused.
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(container(helmTemplate(['image.repository=registry.example/tio', 'image.tag=1.2.3', `image.digest=${digest}`])).image).toBe(`registry.example/tio@${digest}`);
    expect(() => helmTemplate(['image.digest=sha256:xyz'])).toThrow(/digest/);
    expect(c.args).toEqual(['run', '--metrics-bind-address=:8443', '--health-probe-bind-address=:8081', '--log-level=debug', '--concurrency=8']);
    expect(c.env.find((e) => e.name === 'NODE_OPTIONS')?.value).toBe('--max-old-space-size=768');
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '1Gi' } });
  });

  it('metrics.enabled=false: no listener, Service, port or review grant, and nothing that would need them', () => {
    const off = helmTemplate(['metrics.enabled=false']);
    const c = container(off);
    expect(c.args).toContain('--metrics-bind-address=0');
    expect(c.ports.map((p) => p.name)).toEqual(['health']);
    const keys = off.map(keyOf);
    expect(keys.filter((k) => k.includes('metrics-auth') || k.startsWith('Service '))).toEqual([]);
    expect(keys).toContain('ClusterRole tenant-isolation-operator'); // the rest is installed as usual
    const np = off.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'tenant-isolation-operator') as Obj & { spec: { ingress: unknown[] } };
    expect(np.spec.ingress).toEqual([]);
    expect(() => helmTemplate(['metrics.enabled=false', 'monitoring.serviceMonitor.enabled=true'])).toThrow(/metrics.enabled=false/);
    expect(() => helmTemplate(['metrics.enabled=false', 'metrics.certSecret=tls'])).toThrow(/metrics.enabled=false/);
    // Alerts on metrics nobody serves would fire for ever (TenantIsolationOperatorDown).
    expect(() => helmTemplate(['metrics.enabled=false', 'monitoring.prometheusRule.enabled=true'])).toThrow(/metrics.enabled=false/);
    // On by default: the metrics Service and the review grant are there.
    expect(helmTemplate().map(keyOf)).toEqual(expect.arrayContaining([`Service ${NAMESPACE}/tenant-isolation-operator-metrics`, 'ClusterRole tenant-isolation-operator-metrics-auth']));
  });

  it('reservedNamespaces become --reserved-namespaces; admissionGate.enabled=false leaves the gate out', () => {
    expect(container(helmTemplate(['reservedNamespaces={platform,ci}'])).args).toContain('--reserved-namespaces=platform,ci');
    expect(container(helmTemplate()).args.some((a: string) => a.startsWith('--reserved-namespaces'))).toBe(false);
    const gate = (objs: { kind: string }[]): number => objs.filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy')).length;
    expect(gate(helmTemplate())).toBe(12);
    const off = helmTemplate(['admissionGate.enabled=false']);
    expect(gate(off)).toBe(0);
    // The keys ConfigMap stays in the release: the operator keeps it either way, and one it recreated
    // outside the release would make Helm refuse a later upgrade turning the gate back on.
    expect(off.map(keyOf)).toContain(`ConfigMap ${NAMESPACE}/tenant-isolation-membership-keys`);
    // Every admission object carries Helm's labels, as the chart's other objects do.
    for (const o of helmTemplate().filter((x) => x.kind.startsWith('ValidatingAdmissionPolicy') || x.kind === 'ConfigMap')) {
      expect(o.metadata.labels?.['app.kubernetes.io/instance'], keyOf(o)).toBeDefined();
    }
  });

  it('metrics.secure=false serves plain HTTP on 8080, drops the review roles and scrapes over http', () => {
    const objs = helmTemplate(['metrics.secure=false', ...MONITORING]);
    expect(container(objs).args).toContain('--metrics-secure=false');
    expect(container(objs).ports[0]).toEqual({ name: 'http', containerPort: 8080, protocol: 'TCP' });
    expect(objs.map(keyOf)).not.toContain('ClusterRole tenant-isolation-operator-metrics-auth');
    const sm = objs.find((o) => o.kind === 'ServiceMonitor') as Obj & { spec: { endpoints: Record<string, unknown>[] } };
    expect(sm.spec.endpoints[0]).toEqual({ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' });
  });

  it('the ServiceMonitor skips verification only of the self-signed certificate; with a real one the user says how to check it', () => {
    const tls = (set: string[]): unknown => (helmTemplate([...MONITORING, ...set]).find((o) => o.kind === 'ServiceMonitor') as Obj & { spec: { endpoints: { tlsConfig?: unknown }[] } }).spec.endpoints[0]!.tlsConfig;
    expect(tls([])).toEqual({ insecureSkipVerify: true });
    expect(tls(['metrics.certSecret=tio-metrics-tls', 'monitoring.serviceMonitor.tlsConfig.serverName=tio.example'])).toEqual({ serverName: 'tio.example' });
    // Nothing given with a certSecret would fail every scrape quietly (the pod IP, Prometheus's own CAs): refused.
    expect(() => helmTemplate([...MONITORING, 'metrics.certSecret=tio-metrics-tls'])).toThrow(/monitoring\.serviceMonitor\.tlsConfig: with metrics\.certSecret/);
  });

  it('metrics.certSecret mounts the Secret and passes --metrics-cert-path', () => {
    const objs = helmTemplate(['metrics.certSecret=tio-metrics-tls']);
    expect(container(objs).args).toContain('--metrics-cert-path=/etc/tenant-isolation-operator/metrics-certs');
    expect(deployment(objs).spec.template.spec.volumes).toEqual([{ name: 'metrics-certs', secret: { secretName: 'tio-metrics-tls' } }]);
  });

  it('networkPolicy narrows the apiserver to given addresses, denies all scrapers when metricsFrom is empty, or is off', () => {
    const objs = helmTemplate(['networkPolicy.apiServer.cidrs[0]=10.0.0.1/32', 'networkPolicy.metricsFrom=null']);
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'tenant-isolation-operator') as Obj & { spec: { ingress: unknown[]; egress: { to?: unknown[] }[] } };
    expect(np.spec.ingress).toEqual([]);
    expect(np.spec.egress[0]!.to).toEqual([{ ipBlock: { cidr: '10.0.0.1/32' } }]);
    expect(helmTemplate(['networkPolicy.enabled=false']).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });

  it('refuses values it cannot honour, naming the value', () => {
    const fail = (set: string[]): string => { try { helmTemplate(set); return ''; } catch (e) { return String((e as { stderr?: string }).stderr ?? e); } };
    expect(fail(['reservedNamespaces[0]=Not_A_Name'])).toMatch(/reservedNamespaces/);
    expect(fail(['replicas=0'])).toMatch(/replicas.*minimum/i);
    expect(fail(['logLevel=loud'])).toMatch(/logLevel/);
    expect(fail(['leaderElection.enabled=false'])).toContain('leaderElection.enabled=false: needs replicas=1');
    expect(fail(['leaderElection.enable=false'])).toContain("additional properties 'enable' not allowed"); // a typo is not ignored
    expect(fail(['extraArgs[0]=--concurrency 8'])).toMatch(/extraArgs\/0.*does not match pattern/); // one flag per entry
    expect(fail(['extraArgs[0]=--metrics-bind-address=0'])).toContain('extraArgs: --metrics-bind-address=0 is set by the chart from its values');
    expect(fail(['extraArgs[0]=--leader-elect'])).toContain('extraArgs: --leader-elect is set by the chart');
    expect(fail(['extraArgs[0]=--no-leader-elect'])).toContain('extraArgs: --no-leader-elect is set by the chart'); // the negated form too
    expect(fail(['extraArgs[0]=--leader-elect-lease-duration=20'])).toBe(''); // not one of the chart's
    // What other charts and older releases pass stays accepted: a parent's global, numbers for the malloc settings.
    expect(fail(['global.imageRegistry=registry.example', 'mallocArenaMax=4', 'mallocMmapThreshold=65536'])).toBe('');
    // A values file's numbers are floats to Helm: rendered as whole numbers, not 1.048576e+06.
    const values = join(tmp.make('tio-values-'), 'values.yaml');
    writeFileSync(values, 'mallocMmapThreshold: 1048576\nmallocArenaMax: 4\n');
    const env = container(helmTemplate([], ['-f', values])).env;
    expect(env.filter((e) => e.name.startsWith('MALLOC')).map((e) => e.value)).toEqual(['4', '1048576']);
    expect(fail(['metrics.secure=false', 'metrics.certSecret=x'])).toContain('metrics.certSecret: needs metrics.secure=true');
  });

  it('passes helm lint --strict, with monitoring on and off', () => {
    expect(helm(['lint', '--strict', CHART])).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(helm(['lint', '--strict', CHART, ...MONITORING.flatMap((s) => ['--set', s])])).toContain('0 chart(s) failed');
  });
});
