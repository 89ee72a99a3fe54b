// Every file generated from the sources, with its path in the repository: hack/generate.ts writes them
// and test/unit/generated-files.test.ts fails when a committed one is stale.
import { dump } from 'js-yaml';
import { CRDS, crdFileName, crdYaml } from './api/crd.ts';
import { staticAdmissionObjects } from './admission/policies.ts';

export interface GeneratedFile { path: string; text: string }

export function generatedFiles(): GeneratedFile[] {
  const out: GeneratedFile[] = [];
  for (const d of CRDS) {
    const text = crdYaml(d);
    // kustomize cannot load files outside its root: config/crd/bases holds the same file.
    out.push({ path: `crds/${crdFileName(d)}`, text }, { path: `config/crd/bases/${crdFileName(d)}`, text });
  }
  const header = '# The admission gate, generated from src/admission/policies.ts by hack/generate.ts: do not edit by hand.\n';
  out.push({ path: 'config/admission/policies.yaml', text: header + staticAdmissionObjects().map((o) => dump(o, { noRefs: true, lineWidth: -1 })).join('---\n') });
  return out;
}
