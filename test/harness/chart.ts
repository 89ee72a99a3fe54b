// Renders the two ways we ship the operator (kustomize config/, the Helm chart) and compares them
// object by object, so a manifest added to config/default fails the chart's drift test until the chart
// renders it too.
import { execFileSync } from 'node:child_process';
import { isDeepStrictEqual } from 'node:util';
import { join, resolve } from 'node:path';
import { loadAll } from 'js-yaml';
import { kubectlPath, tool } from './tools.ts';

export const repo = resolve(import.meta.dirname, '../..');
export const CHART = join(repo, 'charts/tenant-isolation-operator');
export const RELEASE = 'tenant-isolation-operator';
export const NAMESPACE = 'tenant-isolation-system';

export interface Obj { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown }

const parse = (yaml: string): Obj[] => (loadAll(yaml) as (Obj | null)[]).filter((o): o is Obj => o !== null && typeof o === 'object');

/**
 * Kinds kubectl's kustomize does not know to be cluster-scoped: its `namespace:` transformer gives them
 * a namespace, which the apiserver ignores for them. Compared without it.
 */
const CLUSTER_SCOPED_UNKNOWN_TO_KUSTOMIZE = new Set(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);

export const kustomize = (dir: string): Obj[] => parse(execFileSync(kubectlPath(), ['kustomize', dir], { encoding: 'utf8' })).map((o) => {
  if (!CLUSTER_SCOPED_UNKNOWN_TO_KUSTOMIZE.has(o.kind) || o.metadata.namespace === undefined) return o;
  const { namespace: _, ...metadata } = o.metadata;
  return { ...o, metadata };
});

export function helm(args: string[], env: Record<string, string> = {}): string {
  return execFileSync(tool('helm'), args, { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `helm template` of the chart as release RELEASE in NAMESPACE, CRDs included, with `--set` values. */
export const helmTemplate = (set: string[] = [], extra: string[] = []): Obj[] =>
  parse(helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--include-crds', ...set.flatMap((s) => ['--set', s]), ...extra]));

export const keyOf = (o: Obj): string => `${o.kind} ${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

/** Labels Helm adds to what it renders; they say who installed an object, not what it is. */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];

function withoutHelmLabels(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => withoutHelmLabels(x));
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (key === 'labels' && HELM_LABELS.includes(k)) continue;
    out[k] = withoutHelmLabels(x, k);
  }
  return out;
}

/** JSON paths where two values differ (first few), for a failure message a person can act on. */
function differences(a: unknown, b: unknown, path = '', out: string[] = []): string[] {
  if (out.length >= 8 || isDeepStrictEqual(a, b)) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, out);
    return out;
  }
  out.push(`${path || '.'}: kustomize ${JSON.stringify(a)?.slice(0, 120)} / chart ${JSON.stringify(b)?.slice(0, 120)}`);
  return out;
}

/**
 * Every object kustomize renders must be rendered identically by the chart (Helm's own labels aside), and
 * the chart must render nothing else; `exceptions` maps an object key to why the chart leaves it out.
 */
export function drift(kustomized: Obj[], charted: Obj[], exceptions: Record<string, string>): string[] {
  const problems: string[] = [];
  const chart = new Map(charted.map((o) => [keyOf(o), withoutHelmLabels(o)]));
  for (const o of kustomized) {
    const k = keyOf(o);
    if (k in exceptions) { chart.delete(k); continue; }
    const c = chart.get(k);
    chart.delete(k);
    if (c === undefined) { problems.push(`${k}: in config/ but not rendered by the chart (add a template under charts/tenant-isolation-operator/templates/)`); continue; }
    for (const d of differences(o, c)) problems.push(`${k}: ${d}`);
  }
  for (const k of chart.keys()) problems.push(`${k}: rendered by the chart but not in config/`);
  return problems;
}
