// What the apiserver stored during a chaos run, revision by revision: one watch per kind (tenants,
// namespaces, NetworkPolicies, pods), started before the operator and the churn, each event kept with its
// resourceVersion and the moment it was seen. The admission checker asks it what an object was at the
// revision a pod was created. It shares nothing with the operator's informers: a plain list, then watches
// that resume from the last revision seen; a 410 (history compacted under the watch) re-lists and marks
// the revisions in between as a gap, where nothing is judged (and that is counted).
//
// Why revisions can be compared across kinds: every write to etcd is one transaction that gets the next
// value of etcd's single, cluster-wide revision counter, and the apiserver uses that revision as the
// object's resourceVersion. So "the policy was stored at 812, the pod at 815" means the policy write
// committed before the pod's, whatever the kinds, and the state of every object "at 815" is its last
// version with a revision below 815.
import type { RestClient } from '../../src/kube/rest.ts';
import { TENANT_LABEL } from './churn.ts';

export interface Meta {
  name: string; namespace?: string; uid?: string; resourceVersion?: string; generation?: number; deletionTimestamp?: string;
  labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: { uid: string; kind: string; name: string }[];
}
export interface Obj { metadata: Meta; spec?: unknown; status?: unknown }

/** One stored version of an object; `obj` undefined: deleted at `rv`. */
export interface Version<T extends Obj = Obj> { rv: bigint; seenAt: number; obj: T | undefined }

export type Kind = 'tenants' | 'namespaces' | 'policies' | 'pods';
export const KINDS: readonly Kind[] = ['tenants', 'namespaces', 'policies', 'pods'];
const PATHS: Record<Kind, string> = {
  tenants: '/apis/isolation.tenancy.dev/v1alpha1/tenantisolations',
  namespaces: '/api/v1/namespaces',
  policies: '/apis/networking.k8s.io/v1/networkpolicies',
  pods: '/api/v1/pods',
};

const FM = 'chaos';
const keyOf = (o: Obj): string => (o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name);

/** Every version of every object of one kind, in revision order per object. */
export class Timeline<T extends Obj = Obj> {
  private readonly byKey = new Map<string, Version<T>[]>();

  add(key: string, v: Version<T>): void {
    const vs = this.byKey.get(key) ?? [];
    const last = vs.at(-1);
    if (last && last.rv >= v.rv) return; // already known (a resumed watch may repeat the last event)
    if (!last && v.obj === undefined) return;
    vs.push(v);
    this.byKey.set(key, vs);
  }

  versions(key: string): readonly Version<T>[] { return this.byKey.get(key) ?? []; }
  keys(): IterableIterator<string> { return this.byKey.keys(); }

  /** The index of the version current at revision `rv` (the last one at or before it), or -1. */
  indexAt(key: string, rv: bigint): number {
    const vs = this.byKey.get(key) ?? [];
    let lo = 0; let hi = vs.length - 1; let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (vs[mid]!.rv <= rv) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  }

  /** The object as it was at revision `rv` (undefined: not there). */
  at(key: string, rv: bigint): T | undefined {
    const i = this.indexAt(key, rv);
    return i < 0 ? undefined : this.byKey.get(key)![i]!.obj;
  }

  /** Every object that existed at revision `rv`. */
  allAt(rv: bigint): T[] {
    const out: T[] = [];
    for (const key of this.byKey.keys()) { const o = this.at(key, rv); if (o) out.push(o); }
    return out;
  }
}

/** Revisions the record does not cover: (from, to]. */
export interface Gap { kind: Kind; from: bigint; to: bigint }

export interface HistoryView {
  readonly tenants: Timeline;
  readonly namespaces: Timeline;
  readonly policies: Timeline;
  readonly pods: Timeline;
  readonly gaps: readonly Gap[];
}

export class History implements HistoryView {
  readonly tenants = new Timeline();
  readonly namespaces = new Timeline();
  readonly policies = new Timeline();
  readonly pods = new Timeline();
  readonly gaps: Gap[] = [];
  /** Watch restarts (the server ended the stream, or the connection broke) and re-lists after a 410. */
  readonly restarts: Record<Kind, number> = { tenants: 0, namespaces: 0, policies: 0, pods: 0 };
  private readonly progress: Record<Kind, bigint> = { tenants: 0n, namespaces: 0n, policies: 0n, pods: 0n };
  private readonly waiters: { kind: Kind; rv: bigint; resolve: () => void }[] = [];
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly rest: RestClient;
  private readonly prefix: string;
  private barriers = 0;
  /** Writes to NetworkPolicies the record made (its barrier's): not the operator's. */
  policyWrites = 0;

  constructor(rest: RestClient, prefix: string) { this.rest = rest; this.prefix = prefix; }

  /** Lists each kind, starts its watch, and creates the barrier's objects. */
  async start(): Promise<void> {
    const listed = KINDS.map(async (kind) => {
      const rv = await this.list(kind);
      this.loops.push(this.watch(kind, rv));
    });
    await Promise.all(listed);
    const b = this.barrierPaths();
    await this.rest.create(PATHS.namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.barrierName } }, FM);
    await this.rest.create(`/apis/networking.k8s.io/v1/namespaces/${this.barrierName}/networkpolicies`, {
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'barrier' }, spec: { podSelector: { matchLabels: { app: 'barrier' } }, policyTypes: ['Ingress'] },
    }, FM);
    this.policyWrites++;
    // An Audit tenant claiming nothing: its edits are metadata only, so the operator writes nothing for them.
    await this.rest.apply(b.tenants, { apiVersion: 'isolation.tenancy.dev/v1alpha1', kind: 'TenantIsolation', metadata: { name: this.barrierName },
      spec: { namespaceSelector: { matchLabels: { [TENANT_LABEL]: this.barrierName } }, mode: 'Audit' } }, FM, true);
    // Pod admission wants the namespace's default ServiceAccount, made moments after the namespace.
    for (const deadline = Date.now() + 30_000; ;) {
      try {
        await this.rest.create(`/api/v1/namespaces/${this.barrierName}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'barrier', labels: { app: 'barrier' } },
          spec: { containers: [{ name: 'c', image: 'registry.invalid/barrier:1' }] } }, FM);
        break;
      } catch (e) { if (Date.now() > deadline) throw e; await new Promise((r) => setTimeout(r, 200)); }
    }
  }

  /** The barrier's namespace (also its tenant's name): the run's prefix, so the churn's cleanup removes it. */
  get barrierName(): string { return `${this.prefix}-barrier`; }

  private barrierPaths(): Record<Kind, string> {
    const n = this.barrierName;
    return { tenants: `${PATHS.tenants}/${n}`, namespaces: `${PATHS.namespaces}/${n}`, policies: `/apis/networking.k8s.io/v1/namespaces/${n}/networkpolicies/barrier`, pods: `/api/v1/namespaces/${n}/pods/barrier` };
  }

  /**
   * A barrier: one write per kind to the barrier's own objects, then a wait until every watch has
   * delivered it. Everything stored before is then in the record.
   */
  async sync(timeoutMs = 60_000): Promise<void> {
    const mark = { metadata: { annotations: { 'chaos.tenancy.dev/barrier': String(++this.barriers) } } };
    const paths = this.barrierPaths();
    await Promise.all(KINDS.map(async (kind) => {
      const stored = await this.rest.mergePatch<Obj>(paths[kind], mark, FM);
      if (kind === 'policies') this.policyWrites++;
      await this.seen(kind, BigInt(stored.metadata.resourceVersion!), timeoutMs);
    }));
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled(this.loops);
  }

  private timeline(kind: Kind): Timeline { return this[kind]; }
  private mine(o: Obj): boolean { return (o.metadata.namespace ?? o.metadata.name).startsWith(`${this.prefix}-`); }

  /** Lists a kind; objects gone since the record last saw them are marked deleted at the list's revision. */
  private async list(kind: Kind): Promise<bigint> {
    const l = await this.rest.get<{ metadata: { resourceVersion: string }; items: Obj[] }>(PATHS[kind], undefined, { signal: this.abort.signal });
    const rv = BigInt(l.metadata.resourceVersion);
    const now = performance.now();
    const t = this.timeline(kind);
    const present = new Set<string>();
    for (const o of l.items.filter((x) => this.mine(x))) {
      present.add(keyOf(o));
      t.add(keyOf(o), { rv: BigInt(o.metadata.resourceVersion!), seenAt: now, obj: trim(kind, o) });
    }
    for (const key of [...t.keys()]) if (!present.has(key) && t.versions(key).at(-1)?.obj) t.add(key, { rv, seenAt: now, obj: undefined });
    this.advance(kind, rv);
    return rv;
  }

  private async watch(kind: Kind, from: bigint): Promise<void> {
    let rv = from;
    while (!this.abort.signal.aborted) {
      let gone = false;
      try {
        await this.rest.watch<Obj & { code?: number }>(PATHS[kind], { resourceVersion: String(rv), allowWatchBookmarks: true, timeoutSeconds: 240 }, (e) => {
          if (e.type === 'ERROR') { if (e.object.code === 410) gone = true; throw new Error(`watch ${kind}: ${JSON.stringify(e.object).slice(0, 200)}`); }
          const at = BigInt(e.object.metadata.resourceVersion!);
          if (e.type !== 'BOOKMARK' && this.mine(e.object)) {
            this.timeline(kind).add(keyOf(e.object), { rv: at, seenAt: performance.now(), obj: e.type === 'DELETED' ? undefined : trim(kind, e.object) });
          }
          rv = at;
          this.advance(kind, at);
        }, this.abort.signal);
      } catch (err) {
        if (this.abort.signal.aborted) return;
        if (!gone && !/\b410\b|too old|Expired/i.test(String(err))) { await new Promise((r) => setTimeout(r, 200)); this.restarts[kind]++; continue; }
        gone = true;
      }
      this.restarts[kind]++;
      if (!gone) continue;
      // Compacted past our revision: what happened in between is unknown.
      for (;;) {
        try {
          const listed = await this.list(kind);
          this.gaps.push({ kind, from: rv, to: listed });
          rv = listed;
          break;
        } catch { if (this.abort.signal.aborted) return; await new Promise((r) => setTimeout(r, 500)); }
      }
    }
  }

  private advance(kind: Kind, rv: bigint): void {
    if (rv > this.progress[kind]) this.progress[kind] = rv;
    for (const w of [...this.waiters]) {
      if (this.progress[w.kind] >= w.rv) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(); }
    }
  }

  /** Resolves once the kind's watch has delivered everything up to revision `rv`. */
  seen(kind: Kind, rv: bigint, timeoutMs = 60_000): Promise<void> {
    if (this.progress[kind] >= rv) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { kind, rv, resolve: () => { clearTimeout(timer); resolve(); } };
      const timer = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new Error(`history: ${kind} not seen up to ${rv} within ${timeoutMs} ms (at ${this.progress[kind]})`)); }, timeoutMs);
      this.waiters.push(w);
    });
  }
}

/** The revisions of the policy and namespace versions where the annotation took a new value: marked writes. */
export function markedWrites(h: HistoryView, annotation: string): bigint[] {
  const out: bigint[] = [];
  for (const t of [h.policies, h.namespaces]) {
    for (const key of t.keys()) {
      let mark: string | undefined;
      for (const v of t.versions(key)) {
        const m = v.obj?.metadata.annotations?.[annotation];
        if (m !== undefined && m !== mark) out.push(v.rv);
        mark = m;
      }
    }
  }
  return out;
}

/** Only what the checkers read: the record of a long run stays small. */
function trim(kind: Kind, o: Obj): Obj {
  const m = o.metadata;
  const metadata: Meta = { name: m.name, uid: m.uid, resourceVersion: m.resourceVersion, labels: m.labels, annotations: m.annotations,
    ...(m.namespace ? { namespace: m.namespace } : {}), ...(m.generation !== undefined ? { generation: m.generation } : {}),
    ...(m.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    ...(m.ownerReferences ? { ownerReferences: m.ownerReferences.map(({ uid, kind: k, name }) => ({ uid, kind: k, name })) } : {}) };
  if (kind === 'namespaces' || kind === 'pods') return { metadata };
  if (kind === 'policies') return { metadata, spec: o.spec };
  const status = o.status as { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; observedGeneration?: number }[] } | undefined;
  return { metadata, spec: o.spec, status: { observedGeneration: status?.observedGeneration, conditions: (status?.conditions ?? []).map(({ type, status: s, reason, observedGeneration }) => ({ type, status: s, reason, observedGeneration })) } };
}
