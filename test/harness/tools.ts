// Tools the tests drive (helm, promtool, kubectl), built from pinned Go modules by hack/build-tools.sh and cached;
// a cached tool costs one quick script run.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '../..');
const paths = new Map<string, string>();

/** Absolute path of the tool's binary, building it on first use (minutes, once per machine). */
export function tool(name: 'helm' | 'promtool'): string {
  let p = paths.get(name);
  if (!p) {
    p = execFileSync('bash', [join(repo, 'hack/build-tools.sh'), name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 30 * 60_000 }).trim();
    paths.set(name, p);
  }
  return p;
}

/** kubectl of the pinned control plane (hack/build-control-plane.sh); it has kustomize built in. */
export function kubectlPath(): string {
  let p = paths.get('kubectl');
  if (!p) {
    p = join(execFileSync('bash', [join(repo, 'hack/build-control-plane.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim(), 'kubectl');
    paths.set('kubectl', p);
  }
  return p;
}
