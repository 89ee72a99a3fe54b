// Writes the CRDs generated from src/api/schema.ts to crds/ (what users and tests apply) and
// config/crd/bases/ (kustomize cannot load files outside its root). `--check` writes nothing and exits 1
// when a committed file differs from what the schema generates.
//   node hack/generate-crd.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CRDS, crdFileName, crdYaml } from '../src/api/crd.ts';

const repo = resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const d of CRDS) {
  const text = crdYaml(d);
  for (const dir of ['crds', 'config/crd/bases']) {
    const file = join(repo, dir, crdFileName(d));
    let current: string | undefined;
    try { current = readFileSync(file, 'utf8'); } catch { current = undefined; }
    if (current === text) continue;
    if (check) { stale++; process.stderr.write(`${dir}/${crdFileName(d)} differs from src/api/schema.ts: run node hack/generate-crd.ts\n`); continue; }
    writeFileSync(file, text);
    process.stdout.write(`wrote ${dir}/${crdFileName(d)}\n`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
