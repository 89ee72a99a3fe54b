// IsolationBaseline: the cluster-wide default for namespaces no tenant isolates. One object, named
// `cluster`. In Enforce mode every namespace that no enforcing tenant claims and that is not exempt
// (reserved, kube-*, or exempt by name or selector) gets a default-deny both ways, DNS and traffic within
// the namespace: each its own island. Audit reports what Enforce would do; Off does nothing.
import { z } from 'zod';
import { cel } from './openapi.ts';
import { BASELINE_NAME, condition, dnsSettings, formatIssues, labelSelector, namespaceName, type LabelSelector } from './schema.ts';
import type { StoredClusterObject } from './profile.ts';

export const BASELINE_MODES = ['Enforce', 'Audit', 'Off'] as const;
export type BaselineMode = typeof BASELINE_MODES[number];

export const isolationBaselineSpec = z.strictObject({
  mode: z.enum(BASELINE_MODES).meta({ description: 'Enforce writes the baseline policies; Audit writes nothing and reports in status, Events and verify what Enforce would isolate; Off does nothing. Required: rolling out a baseline is a deliberate step.' }),
  exempt: z.strictObject({
    namespaces: z.array(namespaceName).max(1000).default(() => []).meta({ description: 'Namespaces the baseline leaves alone, besides the reserved ones and every kube-* namespace.', 'x-kubernetes-list-type': 'atomic' }),
    namespaceSelector: labelSelector.optional().meta({
      description: 'Namespaces the baseline leaves alone, by label. Must not be empty (an empty selector exempts every namespace).', 'x-kubernetes-map-type': 'atomic',
      'x-kubernetes-validations': [cel('(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)', 'must not be empty: an empty selector exempts every namespace in the cluster')],
    }),
  }).superRefine((e, ctx) => {
    const sel = e.namespaceSelector;
    if (sel && Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['namespaceSelector'], message: 'must not be empty: an empty selector exempts every namespace in the cluster' });
    }
  }).default(() => ({ namespaces: [] })).meta({ description: 'Namespaces the baseline never isolates, besides the reserved ones (kube-system, kube-public, kube-node-lease, the operator\'s, --reserved-namespaces) and every kube-* namespace.' }),
  dns: dnsSettings.default(() => dnsSettings.parse({})).meta({ description: 'Egress to the cluster DNS service, allowed from every namespace the baseline isolates.' }),
  intraNamespace: z.strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Allow traffic between the pods of one namespace. Default true.' }),
  }).default(() => ({ enabled: true })).meta({ description: 'Traffic inside each namespace the baseline isolates.' }),
}).meta({ description: 'How the operator isolates namespaces that no tenant isolates.' });

/** At most this many names in each status list (the counts are always exact). */
export const BASELINE_STATUS_LIST_MAX = 1000;

export const isolationBaselineStatus = z.strictObject({
  observedGeneration: z.number().int().min(0).optional().meta({ description: 'The metadata.generation this status describes.', format: 'int64' }),
  conditions: z.array(condition).optional().meta({ description: 'Ready (Isolated, AuditMode, Off, Pending, InvalidSpec).', 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
  summary: z.string().max(256).optional().meta({ description: 'One line for kubectl get, e.g. "12 isolated, 4 exempt" or "12 would isolate (Audit)".' }),
  namespaceCount: z.number().int().min(0).optional().meta({ description: 'Namespaces the baseline isolates (Enforce) or would isolate (Audit).', format: 'int32' }),
  namespaces: z.array(z.string().max(63)).max(BASELINE_STATUS_LIST_MAX).optional().meta({ description: 'Those namespaces, sorted (the first 1000).', 'x-kubernetes-list-type': 'atomic' }),
  unselectedPodCount: z.number().int().min(0).optional().meta({ description: 'Pods in those namespaces that no NetworkPolicy selects today (needs the isolation proof).', format: 'int32' }),
  unselectedPods: z.array(z.string().max(317)).max(BASELINE_STATUS_LIST_MAX).optional().meta({ description: 'Those pods as namespace/name, sorted (the first 1000).', 'x-kubernetes-list-type': 'atomic' }),
}).meta({ description: 'What the operator observed and did.' });

export type IsolationBaselineSpec = z.infer<typeof isolationBaselineSpec>;
export type IsolationBaselineStatus = z.infer<typeof isolationBaselineStatus>;

export type IsolationBaselineObject = StoredClusterObject<IsolationBaselineStatus>;

/** A baseline the operator acts on: valid, named `cluster`, not being deleted. */
export interface ValidBaseline { name: string; uid: string; generation: number; spec: IsolationBaselineSpec }

export type ParsedBaseline = { ok: true; baseline: ValidBaseline } | { ok: false; error: string };

export function parseBaseline(obj: Pick<IsolationBaselineObject, 'metadata' | 'spec'>): ParsedBaseline {
  if (obj.metadata.name !== BASELINE_NAME) return { ok: false, error: `metadata.name: must be ${BASELINE_NAME} (the baseline is a singleton)` };
  const r = isolationBaselineSpec.safeParse(obj.spec ?? {});
  if (!r.success) return { ok: false, error: formatIssues(r.error) };
  return { ok: true, baseline: { name: obj.metadata.name, uid: obj.metadata.uid, generation: obj.metadata.generation ?? 0, spec: r.data } };
}

export type { LabelSelector };
