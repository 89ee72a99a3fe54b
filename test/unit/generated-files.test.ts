// Files generated from the sources (CRDs, admission policies) must be committed as generated: a change to
// src/api/schema.ts or src/admission/policies.ts without `npm run generate` fails here.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../../src/generated-files.ts';

const repo = resolve(import.meta.dirname, '../..');

describe('generated files', () => {
  const files = generatedFiles();
  it('cover the CRD (both copies) and the admission policies', () => {
    expect(files.map((f) => f.path)).toEqual(expect.arrayContaining([
      'crds/isolation.tenancy.dev_tenantisolations.yaml', 'config/crd/bases/isolation.tenancy.dev_tenantisolations.yaml', 'config/admission/policies.yaml',
    ]));
  });
  for (const f of files) {
    it(`${f.path} is what npm run generate writes`, () => {
      expect(readFileSync(join(repo, f.path), 'utf8')).toBe(f.text);
    });
  }
});
