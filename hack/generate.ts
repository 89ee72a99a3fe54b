// Writes what is generated from the TypeScript sources, so each fact has one source:
//   crds/*.yaml and config/crd/bases/*.yaml   the CRDs, from the zod schemas (src/api/crd.ts)
//   config/admission/policies.yaml             the admission gate's policies (src/admission/policies.ts)
// `--check` writes nothing and exits 1 when a committed file differs from what would be generated.
//   node hack/generate.ts [--check]        (npm run generate)
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { generatedFiles } from '../src/generated-files.ts';

const repo = resolve(import.meta.dirname, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const { path, text } of generatedFiles()) {
  const file = join(repo, path);
  let current: string | undefined;
  try { current = readFileSync(file, 'utf8'); } catch { current = undefined; }
  if (current === text) continue;
  if (check) { stale++; process.stderr.write(`${path} differs from its source: run npm run generate\n`); continue; }
  writeFileSync(file, text);
  process.stdout.write(`wrote ${path}\n`);
}
process.exitCode = stale > 0 ? 1 : 0;
