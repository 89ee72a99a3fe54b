// A real NetworkPolicy dataplane for integration tests (hack/dataplane.sh: kube-router's policy
// controller in its own node network namespace, pods as network namespaces with a listening agent).
// A test adds pods (the Pod object, written as a kubelet would, plus its namespace and agent), probes
// the real reachability matrix, and waits for an expected matrix as a barrier (never a sleep).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { RestClient, isNotFound } from '../../src/kube/rest.ts';
import { repo } from './run.ts';

const run = promisify(execFile);
const SCRIPT = join(repo, 'hack/dataplane.sh');

export type Proto = 'TCP' | 'UDP' | 'SCTP';
export interface PortSpec { protocol: Proto; port: number }
export interface ContainerPortSpec { name?: string; containerPort: number; protocol?: Proto }

export interface PodSpec {
  namespace: string;
  name: string;
  labels?: Record<string, string>;
  /** Declared in the Pod's container (named ports resolve against these). */
  containerPorts?: ContainerPortSpec[];
  /** Ports the agent listens on; default: the container ports. */
  listen?: PortSpec[];
  /** Default: the next free address of the dataplane's pod range. */
  ip?: string;
}

export interface DataplanePod { key: string; namespace: string; name: string; ip: string; id: string; socket: string; listen: PortSpec[] }

/** One probe's outcome as the agent saw it: "open", "refused", or anything else (timeout, error), which a test must not accept. */
type ProbeResult = string;

/** Allowed ordered pairs "ns/src -> ns/dst" per "PROTO/port", sorted; `odd` lists probes that neither opened nor were refused. */
export interface Matrix { allowed: Record<string, string[]>; odd: string[]; probes: number }

export const portKey = (p: PortSpec): string => `${p.protocol}/${p.port}`;
export const pair = (src: string, dst: string): string => `${src} -> ${dst}`;

let checked: Promise<string | undefined> | undefined;
/**
 * Why this machine cannot run the dataplane ("missing: ..." lines from `hack/dataplane.sh check`), or
 * undefined when it can. With TIO_REQUIRE_DATAPLANE=1 (CI) a missing feature is an error, not a skip.
 */
export function dataplaneMissing(): Promise<string | undefined> {
  checked ??= run('bash', [SCRIPT, 'check']).then(() => undefined, (e: { stderr?: string; message: string }) => (e.stderr?.trim() || e.message)).then((missing) => {
    if (missing && process.env.TIO_REQUIRE_DATAPLANE === '1') throw new Error(`TIO_REQUIRE_DATAPLANE=1 but the dataplane cannot run here:\n${missing}`);
    if (missing) console.warn(`[dataplane] real-packet tests skipped:\n${missing}`);
    return missing;
  });
  return checked;
}

/** A title for describe() that says why its tests are skipped. */
export const titled = (title: string, missing: string | undefined): string => (missing ? `${title} (skipped: ${missing.replace(/\n/g, '; ')})` : title);

async function request<T>(socket: string, body: unknown, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const c = connect(socket);
    let buf = '';
    const timer = setTimeout(() => { c.destroy(); reject(new Error(`agent ${socket} did not answer in ${timeoutMs} ms`)); }, timeoutMs);
    c.on('error', (e) => { clearTimeout(timer); reject(new Error(`agent ${socket}: ${e.message}`, { cause: e })); });
    c.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      const reply = JSON.parse(buf.slice(0, nl)) as T & { error?: string };
      if (reply.error) reject(new Error(`agent ${socket}: ${reply.error}`)); else resolve(reply);
    });
    c.write(`${JSON.stringify(body)}\n`);
  });
}

const FIELD_MANAGER = 'tio-dataplane-tests';
const CANARY_PORT: PortSpec = { protocol: 'TCP', port: 80 };

export class Dataplane {
  readonly dir: string;
  readonly nodeName: string;
  readonly nodeIp: string;
  /** "ok", or why SCTP cannot be probed on this kernel (tests skip SCTP with this message). */
  sctp = 'ok';
  private readonly rest: RestClient;
  private readonly pods = new Map<string, DataplanePod>();
  private readonly slots: DataplanePod[] = [];
  private nextIp = 0;
  private nextId = 0;
  private canaryGen = 0;
  private canaryNs = '';

  private constructor(dir: string, node: string, ip: string, rest: RestClient) {
    this.dir = dir; this.nodeName = node; this.nodeIp = ip; this.rest = rest;
  }

  /** Starts kube-router against the cluster of `kubeconfig` and the sync canary (see sync()). */
  static async start(kubeconfig: string): Promise<Dataplane> {
    const dir = mkdtempSync(join(tmpdir(), 'tio-dp-'));
    let out: string;
    try {
      out = (await run('bash', [SCRIPT, 'up', '--dir', dir, '--kubeconfig', kubeconfig], { timeout: 30 * 60_000 })).stdout;
    } catch (e) {
      await run('bash', [SCRIPT, 'down', '--dir', dir]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`hack/dataplane.sh up failed: ${(e as { stderr?: string }).stderr ?? String(e)}`, { cause: e });
    }
    const [node, ip] = out.trim().split('\n').pop()!.split(' ');
    const dp = new Dataplane(dir, node!, ip!, await RestClient.create(loadKubeConfig(kubeconfig)));
    try {
      await dp.startCanary();
    } catch (e) {
      await dp.stop().catch(() => undefined);   // the caller never gets a handle to stop
      throw e;
    }
    return dp;
  }

  /** Removes every pod namespace, kube-router, the Node and the canary; keeps nothing of the host changed. */
  async stop(): Promise<void> {
    const canary = this.canaryNs;
    try {
      await Promise.all([...this.pods.values()].map((p) => this.deletePodObject(p.namespace, p.name)));
      if (canary) await this.rest.delete(`/api/v1/namespaces/${canary}`).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
    } finally {
      await run('bash', [SCRIPT, 'down', '--dir', this.dir], { timeout: 120_000 });
      this.rest.close();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  private allocateIp(): string {
    // 10.244.1.1 .. 10.244.1.250, then 10.244.2.1 ..: never the node address (10.244.0.1).
    const i = this.nextIp++;
    return `10.244.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
  }

  /** The Pod object (bound to this node, Running with its IP, as a kubelet reports it), then its namespace and agent. */
  async addPod(spec: PodSpec): Promise<DataplanePod> {
    const key = `${spec.namespace}/${spec.name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} exists in the dataplane`);
    const listen = spec.listen ?? (spec.containerPorts ?? []).map((c) => ({ protocol: c.protocol ?? 'TCP', port: c.containerPort }));
    const slot = await this.addSlot(listen, spec.ip);
    return this.attachPod(spec, slot);
  }

  /**
   * A pod's network namespace and agent without a Pod object: attachPod() gives it one, detachPod()
   * takes it away, so many scenarios reuse a few namespaces (creating one costs ~10 `ip` calls).
   */
  async addSlot(listen: PortSpec[], ip = this.allocateIp()): Promise<DataplanePod> {
    const id = `p${(this.nextId++).toString(36)}`;
    const byProto = (p: Proto): string => [...new Set(listen.filter((l) => l.protocol === p).map((l) => l.port))].join(',');
    const socket = (await run('bash', [SCRIPT, 'pod-add', '--dir', this.dir, '--id', id, '--ip', ip, '--tcp', byProto('TCP'), '--udp', byProto('UDP'), '--sctp', byProto('SCTP')])).stdout.trim();
    const slot: DataplanePod = { key: '', namespace: '', name: '', ip, id, socket, listen };
    this.slots.push(slot);
    const ping = await request<{ version: string; sctp: string }>(socket, { op: 'ping' }, 10_000);
    this.sctp = ping.sctp;
    return slot;
  }

  /** Writes the Pod object for a slot (its IP and ports) under `spec`'s namespace, name, labels and container ports. */
  async attachPod(spec: PodSpec, slot: DataplanePod): Promise<DataplanePod> {
    const key = `${spec.namespace}/${spec.name}`;
    if (this.pods.has(key)) throw new Error(`pod ${key} exists in the dataplane`);
    const pod: DataplanePod = { ...slot, key, namespace: spec.namespace, name: spec.name };
    this.pods.set(key, pod);
    await this.writePodObject(spec, slot.ip);
    return pod;
  }

  /** Deletes the Pod object; the slot stays for another pod. */
  async detachPod(key: string): Promise<void> {
    const pod = this.pod(key);
    await this.deletePodObject(pod.namespace, pod.name);
    this.pods.delete(key);
  }

  private async writePodObject(spec: PodSpec, ip: string): Promise<void> {
    const path = `/api/v1/namespaces/${spec.namespace}/pods`;
    const body = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: spec.name, labels: spec.labels ?? {} },
      spec: {
        nodeName: this.nodeName, automountServiceAccountToken: false,
        containers: [{ name: 'agent', image: 'tio-dp-agent.invalid/agent', ports: (spec.containerPorts ?? []).map((c) => ({ ...c, protocol: c.protocol ?? 'TCP' })) }],
      },
    };
    // The namespace's default ServiceAccount (which pod admission wants) appears shortly after the namespace.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try { await this.rest.create(path, body, FIELD_MANAGER); break; } catch (e) {
        if (Date.now() > deadline || !/serviceaccount/i.test((e as Error).message)) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await this.rest.mergePatch(`${path}/${spec.name}/status`, {
      status: { phase: 'Running', hostIP: this.nodeIp, hostIPs: [{ ip: this.nodeIp }], podIP: ip, podIPs: [{ ip }] },
    }, FIELD_MANAGER);
  }

  private async deletePodObject(namespace: string, name: string): Promise<void> {
    // Grace period 0: there is no kubelet to confirm a graceful deletion.
    await this.rest.request('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`, { body: { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0 } })
      .catch((e: unknown) => { if (!isNotFound(e)) throw e; });
  }

  /** Deletes the Pod object and its network namespace. */
  async removePod(key: string): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod) throw new Error(`no pod ${key} in the dataplane`);
    await this.deletePodObject(pod.namespace, pod.name);
    await run('bash', [SCRIPT, 'pod-del', '--dir', this.dir, '--id', pod.id]);
    this.pods.delete(key);
    this.slots.splice(this.slots.findIndex((s) => s.id === pod.id), 1);
  }

  pod(key: string): DataplanePod {
    const p = this.pods.get(key);
    if (!p) throw new Error(`no pod ${key} in the dataplane`);
    return p;
  }

  /**
   * The real matrix: every ordered pair of distinct pods of `from` x `to` on each port (skipping
   * destinations that do not listen on it). Each source's agent probes its row in parallel.
   */
  async probe(from: readonly string[], to: readonly string[], ports: readonly PortSpec[], timeoutMs = 2_000): Promise<Matrix> {
    const allowed: Record<string, string[]> = Object.fromEntries(ports.map((p) => [portKey(p), []]));
    const odd: string[] = [];
    let probes = 0;
    await Promise.all(from.map(async (srcKey) => {
      const src = this.pod(srcKey);
      const list: { dst: string; port: PortSpec }[] = [];
      for (const dstKey of to) {
        if (dstKey === srcKey) continue;
        const dst = this.pod(dstKey);
        for (const port of ports) if (dst.listen.some((l) => l.protocol === port.protocol && l.port === port.port)) list.push({ dst: dstKey, port });
      }
      if (list.length === 0) return;
      probes += list.length;
      const reply = await request<{ results: ProbeResult[] }>(src.socket, {
        op: 'probe', timeoutMs, probes: list.map(({ dst, port }) => ({ ip: this.pod(dst).ip, protocol: port.protocol, port: port.port })),
      }, timeoutMs + 10_000);
      reply.results.forEach((r, i) => {
        const { dst, port } = list[i]!;
        if (r === 'open') allowed[portKey(port)]!.push(pair(srcKey, dst));
        else if (r !== 'refused') odd.push(`${pair(srcKey, dst)} ${portKey(port)}: ${r}`);
      });
    }));
    for (const k of Object.keys(allowed)) allowed[k]!.sort();
    return { allowed, odd: odd.sort(), probes };
  }

  /**
   * Waits until the real matrix equals `expected` (allowed pairs per "PROTO/port"; pairs not listed must
   * be refused). The barrier for "the dataplane enforces this"; on timeout the error shows the difference.
   */
  async waitForMatrix(from: readonly string[], to: readonly string[], expected: Record<string, readonly string[]>, timeoutMs = 15_000): Promise<Matrix> {
    const ports = Object.keys(expected).map((k) => { const [protocol, port] = k.split('/'); return { protocol: protocol as Proto, port: Number(port) }; });
    const want = Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, [...v].sort()]));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await this.probe(from, to, ports);
      if (got.odd.length === 0 && JSON.stringify(got.allowed) === JSON.stringify(want)) return got;
      if (Date.now() > deadline) {
        const diff: string[] = [...got.odd];
        for (const [k, pairs] of Object.entries(want)) {
          const g = new Set(got.allowed[k]);
          const w = new Set(pairs);
          for (const p of pairs) if (!g.has(p)) diff.push(`${k} ${p}: expected open, refused`);
          for (const p of got.allowed[k] ?? []) if (!w.has(p)) diff.push(`${k} ${p}: expected refused, open`);
        }
        throw new Error(`the dataplane did not reach the expected matrix in ${timeoutMs} ms:\n  ${diff.join('\n  ')}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  // ---- sync barrier ----
  // kube-router watches namespaces, pods and policies on three independent watches and rebuilds all
  // rules from its caches on each full sync. sync() flips three canaries, one per kind, after whatever
  // the test wrote; once the rules show all three flipped, the sync that wrote them read caches holding
  // every earlier write of every kind (each watch delivers in order). So the matrix is then final.

  private async startCanary(): Promise<void> {
    this.canaryNs = `tio-dp-canary-${this.nodeName.slice(-6)}`;
    await this.rest.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.canaryNs, labels: { 'tio-dp-open': 'yes' } } }, FIELD_MANAGER);
    const ns = this.canaryNs;
    await this.addPod({ namespace: ns, name: 'src', listen: [CANARY_PORT] });
    for (const d of ['d1', 'd2', 'd3']) await this.addPod({ namespace: ns, name: d, labels: { canary: d, deny: 'no' }, listen: [CANARY_PORT] });
    const policy = (name: string, spec: Record<string, unknown>): Promise<unknown> => this.rest.create(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name }, spec: { policyTypes: ['Ingress'], ...spec },
    }, FIELD_MANAGER);
    await policy('p1', { podSelector: { matchLabels: { canary: 'd1' } }, ingress: [{}] });
    await policy('p2', { podSelector: { matchLabels: { canary: 'd2', deny: 'yes' } } });
    await policy('p3', { podSelector: { matchLabels: { canary: 'd3' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'tio-dp-open': 'yes' } } }] }] });
    await this.waitCanary(true);
  }

  private waitCanary(open: boolean, timeoutMs = 20_000): Promise<Matrix> {
    const ns = this.canaryNs;
    return this.waitForMatrix([`${ns}/src`], ['d1', 'd2', 'd3'].map((d) => `${ns}/${d}`), { [portKey(CANARY_PORT)]: open ? ['d1', 'd2', 'd3'].map((d) => pair(`${ns}/src`, `${ns}/${d}`)) : [] }, timeoutMs);
  }

  /** Returns once the dataplane enforces everything written to the cluster before the call. */
  async sync(timeoutMs = 20_000): Promise<void> {
    const open = ++this.canaryGen % 2 === 0;
    const ns = this.canaryNs;
    await this.rest.mergePatch(`/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/p1`, { spec: { ingress: open ? [{}] : [] } }, FIELD_MANAGER);
    await this.rest.mergePatch(`/api/v1/namespaces/${ns}/pods/d2`, { metadata: { labels: { deny: open ? 'no' : 'yes' } } }, FIELD_MANAGER);
    await this.rest.mergePatch(`/api/v1/namespaces/${ns}`, { metadata: { labels: { 'tio-dp-open': open ? 'yes' : 'no' } } }, FIELD_MANAGER);
    await this.waitCanary(open, timeoutMs);
  }
}
