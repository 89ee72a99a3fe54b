// Temporary directories for one test file, removed when the file's tests are done.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/** Call at a test file's top level; `make(prefix)` returns a new directory under the OS temp dir. */
export function tempDirs(): { make(prefix: string): string } {
  const made: string[] = [];
  afterAll(() => { for (const d of made) rmSync(d, { recursive: true, force: true }); });
  return { make: (prefix) => { const d = mkdtempSync(join(tmpdir(), prefix)); made.push(d); return d; } };
}
