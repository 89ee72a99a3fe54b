// Credentials our own kubeconfig loader hands to RestClient, against the real apiserver: a token file
// that rotates, and an `exec` plugin (served by @kubernetes/client-node, imported lazily).
import { readFileSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { ApiError, RestClient } from '../../src/kube/rest.ts';
import { operatorKubeconfig } from '../harness/cluster.ts';

const tmp = tempDirs();

interface Kubeconfig { clusters: { name: string; cluster: Record<string, unknown> }[]; users: { name: string; user: { token: string } }[] }
const base = load(readFileSync(operatorKubeconfig(), 'utf8')) as Kubeconfig;
const token = base.users[0]!.user.token;
const dir = tmp.make('tio-creds-');

function kubeconfigWith(user: Record<string, unknown>): string {
  const file = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'c',
    clusters: [{ name: 'k', cluster: base.clusters[0]!.cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'c', context: { cluster: 'k', user: 'u' } }],
  }));
  return file;
}

async function status(file: string): Promise<number> {
  const rest = await RestClient.create(loadKubeConfig(file));
  try { await rest.get('/api/v1/namespaces', { limit: 1 }); return 200; } catch (e) { if (e instanceof ApiError) return e.status; throw e; } finally { rest.close(); }
}

describe('credentials', () => {
  it('a tokenFile is read per request: a rotated token is used at once', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token);
    const rest = await RestClient.create(loadKubeConfig(kubeconfigWith({ tokenFile })));
    try {
      await expect(rest.get('/api/v1/namespaces', { limit: 1 })).resolves.toBeDefined();
      writeFileSync(tokenFile, 'not-a-token');
      utimesSync(tokenFile, new Date(), new Date(Date.now() + 5000));
      await expect(rest.get('/api/v1/namespaces', { limit: 1 })).rejects.toMatchObject({ status: 401 });
      writeFileSync(tokenFile, token);
      utimesSync(tokenFile, new Date(), new Date(Date.now() + 10_000));
      await expect(rest.get('/api/v1/namespaces', { limit: 1 })).resolves.toBeDefined();
    } finally { rest.close(); }
  });

  it('an exec plugin supplies the token (client-node runs it); a plugin with a wrong token is refused', async () => {
    const plugin = (t: string): Record<string, unknown> => ({
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1', command: 'sh', interactiveMode: 'Never',
        args: ['-c', `printf '%s' '${JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: t } })}'`],
      },
    });
    expect(await status(kubeconfigWith(plugin(token)))).toBe(200);
    expect(await status(kubeconfigWith(plugin('wrong')))).toBe(401);
  });

  it('no credentials at all is system:anonymous, which RBAC refuses', async () => {
    expect(await status(kubeconfigWith({}))).toBe(403);
  });
});
