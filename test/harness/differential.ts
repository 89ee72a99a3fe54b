// Random NetworkPolicy scenarios for the analyzer-vs-dataplane differential test and its benchmark:
// namespaces and pods with labels and named ports, and policies using every peer, port and ipBlock form
// of networking.k8s.io/v1. Deterministic per seed, so a disagreement can be replayed.
import { IsolationAnalyzer } from '../../src/analysis/analyzer.ts';
import { podInfo, type PodObject } from '../../src/controller/isolation-proof.ts';
import { isNotFound, type RestClient } from '../../src/kube/rest.ts';
import type { NamespaceObject, NetworkPolicy } from '../../src/policy/types.ts';
import { pair, portKey, type ContainerPortSpec, type Dataplane, type DataplanePod, type PortSpec } from './dataplane.ts';
import { ALL_DIVERGENCES, modelAllows, type Divergence, type MWorld } from './kube-router-model.ts';

/** What every slot's agent listens on, and so the ports each scenario probes. */
export const SCENARIO_PORTS: PortSpec[] = [
  { protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 8080 }, { protocol: 'TCP', port: 9090 },
  { protocol: 'UDP', port: 53 }, { protocol: 'UDP', port: 5353 },
];

/** Slot i's address: two /24s, so ipBlocks can split pods by subnet as well as by /28 and /32. */
export const slotIp = (i: number): string => `10.244.${1 + (i % 2)}.${10 + i}`;

export interface ScenarioPod { namespace: string; name: string; labels: Record<string, string>; containerPorts: ContainerPortSpec[]; slot: number }
export interface Scenario {
  seed: number;
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: ScenarioPod[];
  policies: { namespace: string; name: string; spec: Record<string, unknown> }[];
}

/** mulberry32: small, fast, good enough to draw test cases from a seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Named ports: the same name maps to different numbers on different pods, as real workloads do. */
const NAMED: { name: string; choices: ContainerPortSpec[] }[] = [
  { name: 'http', choices: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 8080, protocol: 'TCP' }] },
  { name: 'metrics', choices: [{ containerPort: 9090, protocol: 'TCP' }] },
  { name: 'dns', choices: [{ containerPort: 53, protocol: 'UDP' }, { containerPort: 5353, protocol: 'UDP' }] },
  { name: 'alt', choices: [{ containerPort: 5353, protocol: 'UDP' }, { containerPort: 8080, protocol: 'TCP' }] },
];

const POD_LABELS: Record<string, string[]> = { app: ['web', 'db', 'cache'], tier: ['front', 'back'] };
const NS_LABELS: Record<string, string[]> = { team: ['a', 'b'], env: ['prod', 'dev'] };
const CIDRS: { cidr: string; except: string[] }[] = [
  { cidr: '10.244.0.0/16', except: ['10.244.1.0/24', '10.244.2.0/24', '10.244.1.8/29'] },
  { cidr: '10.244.1.0/24', except: ['10.244.1.8/29', '10.244.1.0/28'] },
  { cidr: '10.244.2.0/24', except: ['10.244.2.0/28', '10.244.2.16/30'] },
  { cidr: '10.244.1.0/28', except: ['10.244.1.12/30'] },
  { cidr: '0.0.0.0/0', except: ['10.244.2.0/24', '10.244.1.0/28'] },
];

export function generateScenario(seed: number, prefix: string, slots: number): Scenario {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const chance = (p: number): boolean => r() < p;
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const labelsFrom = (vocab: Record<string, string[]>, p: number): Record<string, string> =>
    Object.fromEntries(Object.entries(vocab).filter(() => chance(p)).map(([k, vs]) => [k, pick(vs)]));

  const namespaces = Array.from({ length: int(2, 3) }, (_, i) => ({ name: `${prefix}-n${i}`, labels: labelsFrom(NS_LABELS, 0.7) }));
  const podCount = Math.min(slots, int(4, 6));
  const pods: ScenarioPod[] = Array.from({ length: podCount }, (_, i) => {
    const containerPorts: ContainerPortSpec[] = [];
    for (const n of NAMED) if (chance(0.5)) containerPorts.push({ name: n.name, ...pick(n.choices) });
    return { namespace: i < namespaces.length ? namespaces[i]!.name : pick(namespaces).name, name: `pod${i}`, labels: labelsFrom(POD_LABELS, 0.7), containerPorts, slot: i };
  });

  const selector = (vocab: Record<string, string[]>): Record<string, unknown> => {
    const key = pick(Object.keys(vocab));
    switch (int(0, 5)) {
      case 0: return {};
      case 1: case 2: return { matchLabels: { [key]: pick(vocab[key]!) } };
      case 3: return { matchExpressions: [{ key, operator: pick(['In', 'NotIn']), values: [pick(vocab[key]!)] }] };
      case 4: return { matchExpressions: [{ key, operator: pick(['Exists', 'DoesNotExist']) }] };
      default: return { matchLabels: { [key]: pick(vocab[key]!) }, matchExpressions: [{ key: pick(Object.keys(vocab)), operator: 'Exists' }] };
    }
  };
  const ipBlock = (): Record<string, unknown> => {
    if (chance(0.3)) return { cidr: `${slotIp(int(0, podCount - 1))}/32` };
    const c = pick(CIDRS);
    const except = c.except.filter(() => chance(0.4));
    return except.length ? { cidr: c.cidr, except } : { cidr: c.cidr };
  };
  const peer = (): Record<string, unknown> => {
    switch (int(0, 4)) {
      case 0: return { podSelector: selector(POD_LABELS) };
      case 1: return { namespaceSelector: selector(NS_LABELS) };
      case 2: return { namespaceSelector: selector(NS_LABELS), podSelector: selector(POD_LABELS) };
      default: return { ipBlock: ipBlock() };
    }
  };
  const port = (): Record<string, unknown> => {
    const protocol = pick(['TCP', 'TCP', 'UDP']);
    switch (int(0, 5)) {
      case 0: return { protocol, port: pick(SCENARIO_PORTS.filter((p) => p.protocol === protocol)).port };
      case 1: return { port: pick([80, 8080, 9090]) }; // protocol omitted: TCP
      case 2: return { protocol, port: pick(NAMED.map((n) => n.name)) };
      case 3: { const lo = pick([53, 80, 5000, 8000]); return { protocol, port: lo, endPort: pick([5353, 8080, 8999, 9090].filter((e) => e >= lo)) }; }
      case 4: return { protocol }; // every port of one protocol
      default: return { port: pick(NAMED.map((n) => n.name)) };
    }
  };
  const rule = (dir: 'from' | 'to'): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const peers = int(0, 4);
    if (peers === 1) out[dir] = [];
    else if (peers >= 2) out[dir] = Array.from({ length: peers - 1 }, peer);
    const ports = int(0, 3);
    if (ports === 1) out.ports = [];
    else if (ports >= 2) out.ports = Array.from({ length: ports - 1 }, port);
    return out;
  };

  const policies = Array.from({ length: int(2, 5) }, (_, i) => {
    const types = pick<string[] | undefined>([undefined, ['Ingress'], ['Egress'], ['Ingress', 'Egress']]);
    const spec: Record<string, unknown> = { podSelector: selector(POD_LABELS) };
    if (types) spec.policyTypes = [...types];
    if (!types || types.includes('Ingress') || chance(0.2)) if (chance(0.8)) spec.ingress = Array.from({ length: int(0, 2) }, () => rule('from'));
    if (!types || types.includes('Egress') || chance(0.2)) if (chance(0.8)) spec.egress = Array.from({ length: int(0, 2) }, () => rule('to'));
    return { namespace: pick(namespaces).name, name: `np${i}`, spec };
  });
  return { seed, namespaces, pods, policies };
}

export interface ScenarioOutcome {
  probes: number;
  agreements: number;
  /** Analyzer != packets, explained by exactly this documented divergence (or "several" when only together). */
  divergences: Partial<Record<Divergence | 'several', number>>;
  /** Disagreements no documented divergence explains, with the scenario's seed: each is a bug to fix. */
  unexplained: string[];
  /** Examples of each divergence, for the report. */
  examples: Partial<Record<Divergence | 'several', string>>;
}

const FM = 'tio-differential';

/** Writes the scenario, waits until kube-router enforces it, and compares analyzer, packets and model. */
export async function runScenario(dp: Dataplane, rest: RestClient, slots: readonly DataplanePod[], sc: Scenario,
  /** Called while the scenario is live with the analyzer's allowed pairs per "PROTO/port" (the test compares `verify` with them). */
  whileLive?: (byAnalyzer: Record<string, string[]>, pods: string[]) => Promise<void>): Promise<ScenarioOutcome> {
  const out: ScenarioOutcome = { probes: 0, agreements: 0, divergences: {}, unexplained: [], examples: {} };
  const keys = sc.pods.map((p) => `${p.namespace}/${p.name}`);
  try {
    for (const ns of sc.namespaces) await rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, labels: ns.labels } }, FM);
    for (const p of sc.pods) await dp.attachPod(p, slots[p.slot]!);
    for (const p of sc.policies) {
      await rest.create(`/apis/networking.k8s.io/v1/namespaces/${p.namespace}/networkpolicies`, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: p.name }, spec: p.spec }, FM)
        .catch((e: unknown) => { throw new Error(`seed ${sc.seed}: the apiserver refused policy ${p.namespace}/${p.name} ${JSON.stringify(p.spec)}: ${(e as Error).message}`, { cause: e }); });
    }
    await dp.sync();

    // What verify reads: the stored objects (with the apiserver's defaults), as the analyzer's snapshot.
    const namespaces = await Promise.all(sc.namespaces.map((n) => rest.get<NamespaceObject>(`/api/v1/namespaces/${n.name}`)));
    const pods = (await Promise.all(sc.namespaces.map((n) => rest.get<{ items: PodObject[] }>(`/api/v1/namespaces/${n.name}/pods`)))).flatMap((l) => l.items);
    const policies = (await Promise.all(sc.namespaces.map((n) => rest.get<{ items: NetworkPolicy[] }>(`/apis/networking.k8s.io/v1/namespaces/${n.name}/networkpolicies`)))).flatMap((l) => l.items);
    const snapshot = { namespaces: namespaces.map((n) => ({ name: n.metadata.name, labels: n.metadata.labels ?? {} })), pods: pods.map(podInfo), policies };
    const analyzer = IsolationAnalyzer.fromSnapshot(snapshot);
    const world: MWorld = {
      namespaces: snapshot.namespaces.map((n) => ({ name: n.name, labels: { ...n.labels } })),
      pods: snapshot.pods.map((p) => ({ namespace: p.namespace, name: p.name, labels: { ...p.labels }, ip: p.ips[0]!, containerPorts: p.containerPorts.map((c) => ({ ...c })) })),
      policies: policies,
    };
    const real = await dp.probe(keys, keys, SCENARIO_PORTS);
    out.unexplained.push(...real.odd.map((o) => `seed ${sc.seed}: probe neither open nor refused: ${o}`));
    const analyzed: Record<string, string[]> = {};
    const none = new Set<Divergence>();
    const all = new Set<Divergence>(ALL_DIVERGENCES);
    const orderFree = new Set<Divergence>(ALL_DIVERGENCES.filter((d) => d !== 'namedPortEndpointAliasing'));
    for (const port of SCENARIO_PORTS) {
      const k = portKey(port);
      const byAnalyzer = new Set(analyzer.allowedPairs(port.port, port.protocol).map(([s, d]) => pair(s, d)));
      analyzed[k] = [...byAnalyzer].sort();
      const byPackets = new Set(real.allowed[k]);
      for (const src of world.pods) for (const dst of world.pods) {
        if (src === dst) continue;
        const pr = pair(`${src.namespace}/${src.name}`, `${dst.namespace}/${dst.name}`);
        const c = { src, dst, protocol: port.protocol, port: port.port };
        const a = byAnalyzer.has(pr), r = byPackets.has(pr);
        out.probes++;
        const where = `seed ${sc.seed} ${k} ${pr}: analyzer ${a ? 'allows' : 'denies'}, packets ${r ? 'open' : 'refused'}`;
        if (modelAllows(world, c, none) !== a) out.unexplained.push(`${where}; the API model ${a ? 'denies' : 'allows'} (analyzer bug?)`);
        // The packets must lie between the kube-router model without the order-dependent aliasing and with its widest effect.
        const least = modelAllows(world, c, orderFree), most = modelAllows(world, c, all);
        if (r ? !most : least) out.unexplained.push(`${where}; the kube-router model ${r ? 'denies' : 'allows'} (undocumented divergence or dataplane fault)`);
        if (a === r) { out.agreements++; continue; }
        const single = ALL_DIVERGENCES.filter((d) => modelAllows(world, c, new Set([d])) === r);
        const key: Divergence | 'several' = single.length === 1 ? single[0]! : 'several';
        out.divergences[key] = (out.divergences[key] ?? 0) + 1;
        out.examples[key] ??= `${where}\n    policies: ${JSON.stringify(sc.policies)}`;
      }
    }
    await whileLive?.(analyzed, keys);
    return out;
  } finally {
    for (const k of keys) await dp.detachPod(k).catch(() => undefined);
    for (const ns of sc.namespaces) await rest.delete(`/api/v1/namespaces/${ns.name}`).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
  }
}

/** Adds one scenario's outcome into a running total. */
export function accumulate(total: ScenarioOutcome, o: ScenarioOutcome): void {
  total.probes += o.probes;
  total.agreements += o.agreements;
  for (const [k, v] of Object.entries(o.divergences) as [Divergence | 'several', number][]) total.divergences[k] = (total.divergences[k] ?? 0) + v;
  for (const [k, v] of Object.entries(o.examples) as [Divergence | 'several', string][]) total.examples[k] ??= v;
  total.unexplained.push(...o.unexplained);
}
