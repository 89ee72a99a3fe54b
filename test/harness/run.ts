// Runs the project's own commands as a user would (a child process) and never rejects: tests assert on
// the exit code, stdout and stderr.
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

export const repo = resolve(import.meta.dirname, '../..');
export interface Run { code: number; stdout: string; stderr: string }

interface RunOptions { timeoutMs?: number; env?: Record<string, string | undefined>; cwd?: string }

async function run(file: string, args: string[], opts: RunOptions = {}): Promise<Run> {
  return promisify(execFile)(file, args, { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 * 2 ** 20, env: { ...process.env, ...opts.env }, ...(opts.cwd ? { cwd: opts.cwd } : {}) })
    .then((r) => ({ code: 0, ...r }), (e: unknown) => e as Run);
}

/** `tenant-isolation ARGS` (src/cli/main.ts on this Node). */
export const cli = (args: string[], opts?: RunOptions): Promise<Run> =>
  run(process.execPath, [join(repo, 'src/cli/main.ts'), ...args], opts);

/** `bash SCRIPT ARGS` for a script under the repository. */
export const script = (path: string, args: string[], opts?: RunOptions): Promise<Run> =>
  run('bash', [join(repo, path), ...args], opts);
