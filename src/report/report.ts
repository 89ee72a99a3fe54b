// What the picture outputs of `verify` show (-o html, -o dot): the tenant matrix on one port, where its
// allowed paths are breaches, the namespaces with their tenants, and the pod-level data behind them.
// Plain data computed once from the analyzer, so every renderer shows the same facts.
import { NON_TENANT, type Breach, type IsolationAnalyzer } from '../analysis/analyzer.ts';
import type { Protocol, Snapshot } from '../analysis/types.ts';
import { compareStrings } from '../policy/order.ts';

export interface VerifyReport {
  /** Where the data came from: "cluster" or the files given. */
  source: string;
  port: number;
  protocol: Protocol;
  /** Matrix labels: tenants sorted, then NON_TENANT. */
  tenants: string[];
  matrix: Record<string, Record<string, number>>;
  /** [row, column] tenant pairs where an allowed path on this port is a breach. */
  breachCells: [string, string][];
  breaches: Breach[];
  podsSelectedByNoPolicy: string[];
  namespaces: { name: string; tenants: string[]; pods: number }[];
  pods: string[];
  /** Ordered pod pairs allowed on this port; undefined above POD_MATRIX_LIMIT pods (too large to draw). */
  allowed: [string, string][] | undefined;
  /** Allowed pod pairs per ordered namespace pair (distinct namespaces), and whether a breach runs along it. */
  edges: { from: string; to: string; pairs: number; breach: boolean }[];
}

/** Above this many pods the page offers no pod matrix (it would hold up to n² cells): use verify --pods -o json. */
export const POD_MATRIX_LIMIT = 400;

const nsOf = (pod: string): string => pod.slice(0, pod.indexOf('/'));

/** The namespace a breach's peer stands for ("ns/pod" or "namespace ns"); undefined outside the cluster. */
function peerNamespace(peer: string): string | undefined {
  if (peer.startsWith('external ')) return undefined;
  return peer.startsWith('namespace ') ? peer.slice('namespace '.length) : nsOf(peer);
}

const covers = (b: Breach, port: number, protocol: Protocol): boolean => b.protocol === protocol && b.port <= port && port <= (b.endPort ?? b.port);

export function buildReport(a: IsolationAnalyzer, snapshot: Snapshot, o: { source: string; port: number; protocol: Protocol; breaches: Breach[] }): VerifyReport {
  const { port, protocol } = o;
  const matrix = a.tenantMatrix(port, protocol);
  const ownerOf = (ns: string): string[] => { const t = a.tenantsOf(ns); return t.length > 0 ? t : [NON_TENANT]; };
  const cells = new Set<string>();
  const breachEdges = new Set<string>();
  for (const b of o.breaches) {
    const peerNs = peerNamespace(b.peer);
    if (peerNs === undefined || !covers(b, port, protocol)) continue;
    for (const t of ownerOf(peerNs)) cells.add(b.direction === 'ingress' ? `${t}\n${b.tenant}` : `${b.tenant}\n${t}`);
    for (const ns of new Set(b.pods.map(nsOf))) breachEdges.add(b.direction === 'ingress' ? `${peerNs}\n${ns}` : `${ns}\n${peerNs}`);
  }
  // Pod pairs only while a matrix of them can be drawn; namespace edges come from pod classes.
  const allowed = snapshot.pods.length <= POD_MATRIX_LIMIT
    ? a.allowedPairs(port, protocol).sort((x, y) => compareStrings(x[0], y[0]) || compareStrings(x[1], y[1]))
    : undefined;
  const podsPerNs = new Map<string, number>();
  for (const p of snapshot.pods) podsPerNs.set(p.namespace, (podsPerNs.get(p.namespace) ?? 0) + 1);
  const nsNames = [...new Set([...snapshot.namespaces.map((n) => n.name), ...podsPerNs.keys()])].sort();
  return {
    source: o.source, port, protocol,
    tenants: matrix.tenants, matrix: matrix.counts,
    breachCells: [...cells].sort().map((k) => k.split('\n') as [string, string]),
    breaches: o.breaches,
    podsSelectedByNoPolicy: a.podsSelectedByNoPolicy(),
    namespaces: nsNames.map((name) => ({ name, tenants: a.tenantsOf(name), pods: podsPerNs.get(name) ?? 0 })),
    pods: snapshot.pods.map((p) => `${p.namespace}/${p.name}`).sort(),
    allowed,
    edges: a.namespacePairs(port, protocol).map((e) => ({ ...e, breach: breachEdges.has(`${e.from}\n${e.to}`) })),
  };
}
