// Reads Kubernetes manifests (multi-document YAML or JSON, files or stdin) and remembers where each
// object came from, so every error names its file and line.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';

export interface Located<T = Record<string, unknown>> { object: T; file: string; line: number }

export class ManifestError extends Error {
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.name = 'ManifestError';
  }
}

/** Files named on the command line; a directory means its *.yaml, *.yml and *.json files; '-' is stdin. */
export function expandPaths(paths: string[]): string[] {
  return paths.flatMap((p) => {
    if (p === '-') return [p];
    let st;
    try { st = statSync(p); } catch { throw new Error(`${p}: no such file or directory`); }
    if (!st.isDirectory()) return [p];
    // kustomization.yaml is build configuration, not an object.
    return readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f) && !/^kustomization\.ya?ml$/.test(f)).sort().map((f) => join(p, f));
  });
}

export function loadManifests(paths: string[]): Located[] {
  const out: Located[] = [];
  for (const file of expandPaths(paths)) {
    const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    out.push(...parseDocuments(text, file === '-' ? '<stdin>' : file));
  }
  return out;
}

/** Splits on `---` lines so each document keeps its starting line; expands `List` kinds. */
export function parseDocuments(text: string, file: string): Located[] {
  const lines = text.split('\n');
  const docs: { start: number; body: string[] }[] = [{ start: 1, body: [] }];
  lines.forEach((l, i) => {
    if (/^---(\s.*)?$/.test(l)) docs.push({ start: i + 2, body: [] });
    else docs[docs.length - 1]!.body.push(l);
  });
  const out: Located[] = [];
  for (const d of docs) {
    if (d.body.every((l) => l.trim() === '' || l.trimStart().startsWith('#'))) continue;
    let value: unknown;
    try {
      value = load(d.body.join('\n'));
    } catch (e) {
      const mark = (e as { mark?: { line: number } }).mark;
      const reason = (e as { reason?: string }).reason ?? (e as Error).message;
      throw new ManifestError(file, d.start + (mark?.line ?? 0), `malformed YAML: ${reason}`);
    }
    if (value === null || value === undefined) continue;
    const firstLine = d.start + Math.max(0, d.body.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#')));
    if (typeof value !== 'object' || Array.isArray(value)) throw new ManifestError(file, firstLine, 'expected a Kubernetes object (a mapping with apiVersion and kind)');
    const obj = value as Record<string, unknown>;
    if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') throw new ManifestError(file, firstLine, 'missing apiVersion or kind');
    if (obj.kind.endsWith('List') && Array.isArray(obj.items)) {
      for (const [i, item] of (obj.items as unknown[]).entries()) {
        const o = item as Record<string, unknown> | null;
        if (typeof o !== 'object' || o === null || Array.isArray(o) || typeof o.kind !== 'string' || typeof o.apiVersion !== 'string') {
          throw new ManifestError(file, firstLine, `${obj.kind} items[${i}]: expected a Kubernetes object with apiVersion and kind`);
        }
        out.push({ object: o, file, line: firstLine });
      }
    } else {
      out.push({ object: obj, file, line: firstLine });
    }
  }
  return out;
}
