// Every file generated from the sources, with its path in the repository: hack/generate.ts writes them
// and test/unit/generated-files.test.ts fails when a committed one is stale.
import { dump } from 'js-yaml';
import { CRDS, crdFileName, crdYaml } from './api/crd.ts';
import { DEFAULT_OPERATOR_NAMESPACE, staticAdmissionObjects } from './admission/policies.ts';

export interface GeneratedFile { path: string; text: string }

const CHART = 'charts/tenant-isolation-operator';
/** A valid namespace name that appears nowhere else, replaced by the chart's template expression. */
const NAMESPACE_PLACEHOLDER = 'chart-release-namespace';

export function generatedFiles(): GeneratedFile[] {
  const out: GeneratedFile[] = [];
  for (const d of CRDS) {
    const text = crdYaml(d);
    // kustomize and Helm read only files inside their roots: config/crd/bases and the chart hold copies.
    for (const dir of ['crds', 'config/crd/bases', `${CHART}/crds`]) out.push({ path: `${dir}/${crdFileName(d)}`, text });
  }
  const header = '# The admission gate, generated from src/admission/policies.ts by hack/generate.ts: do not edit by hand.\n';
  const yaml = (namespace: string): string => staticAdmissionObjects(namespace).map((o) => dump(o, { noRefs: true, lineWidth: -1 })).join('---\n');
  out.push({ path: 'config/admission/policies.yaml', text: header + yaml(DEFAULT_OPERATOR_NAMESPACE) });
  // The chart renders the same objects in its release namespace (the membership guard's param lives
  // there), with Helm's labels as on its other objects; the policies and bindings unless the gate is
  // turned off. The keys ConfigMap always: the operator keeps it either way, and one it recreated outside
  // the release would stop a later `helm upgrade --set admissionGate.enabled=true` (Helm refuses to adopt it).
  const objects = staticAdmissionObjects(NAMESPACE_PLACEHOLDER);
  const chartYaml = (objs: typeof objects): string => objs.map((o) => dump(o, { noRefs: true, lineWidth: -1 })).join('---\n')
    .replaceAll(NAMESPACE_PLACEHOLDER, '{{ .Release.Namespace }}')
    .replaceAll(/^ {2}labels:\n(?: {4}.*\n)+/gm, '  labels:\n    {{- include "tio.labels" . | nindent 4 }}\n');
  const gated = objects.filter((o) => o.kind !== 'ConfigMap');
  const always = objects.filter((o) => o.kind === 'ConfigMap');
  out.push({ path: `${CHART}/templates/admission/policies.yaml`, text: `${header}{{- if .Values.admissionGate.enabled }}\n${chartYaml(gated)}{{- end }}\n---\n${chartYaml(always)}` });
  return out;
}
