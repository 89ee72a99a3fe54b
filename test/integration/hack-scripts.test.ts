// The control-plane scripts fail fast with a message naming the cause, never a hang.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDirs } from '../harness/tmp.ts';
import { script } from '../harness/run.ts';

const tmp = tempDirs();

const bash = (path: string, args: string[], env: Record<string, string | undefined>) => script(path, args, { env });

describe('hack/ scripts on bad input', () => {
  it('build-control-plane.sh without a Go toolchain says so', async () => {
    const r = await bash('hack/build-control-plane.sh', [], { PATH: '/usr/bin:/bin', TIO_CACHE_DIR: tmp.make('tio-nogo-') });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the Go toolchain (go) is not on PATH');
  });

  it('build-control-plane.sh with a release that does not exist names the module it could not fetch', async () => {
    const r = await bash('hack/build-control-plane.sh', [], { KUBE_VERSION: 'v1.37.999', TIO_CACHE_DIR: tmp.make('tio-badver-') });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('could not download k8s.io/kubernetes@v1.37.999');
  });

  it('build-tools.sh names a missing Go, an unknown tool and a version the module proxy does not have', async () => {
    const noGo = await bash('hack/build-tools.sh', ['promtool'], { PATH: '/usr/bin:/bin', TIO_CACHE_DIR: tmp.make('tio-tools-nogo-') });
    expect(noGo.code).toBe(1);
    expect(noGo.stderr).toContain('the Go toolchain (go) is not on PATH; install Go >= 1.26 to build promtool');
    const unknown = await bash('hack/build-tools.sh', ['kubectl'], {});
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("unknown tool 'kubectl' (known: helm, promtool)");
    const badVersion = await bash('hack/build-tools.sh', ['helm'], { HELM_VERSION: 'v4.99.99', TIO_CACHE_DIR: tmp.make('tio-tools-badver-') });
    expect(badVersion.code).toBe(1);
    expect(badVersion.stderr).toContain('could not download helm.sh/helm/v4@v4.99.99 from the Go module proxy');
  });

  it('local-cluster.sh up with a port in use names the port and starts nothing', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const dir = tmp.make('tio-busy-');
      const r = await bash('hack/local-cluster.sh', ['up', '--dir', dir], { APISERVER_PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`port ${port} for kube-apiserver is already in use`);
      const status = await bash('hack/local-cluster.sh', ['status', '--dir', dir], {});
      expect(status.stdout).toMatch(/etcd: stopped[\s\S]*kube-apiserver: stopped/);
    } finally { server.close(); }
  });

  it('local-cluster.sh up on a half-running cluster stops the leftovers and starts afresh', async () => {
    const dir = tmp.make('tio-partial-');
    try {
      expect((await bash('hack/local-cluster.sh', ['up', '--dir', dir], {})).code).toBe(0);
      // As after an interrupted start or a crash: one component gone, the others still up.
      process.kill(Number(readFileSync(join(dir, 'run/kube-controller-manager.pid'), 'utf8').trim()), 'SIGKILL');
      const etcdBefore = readFileSync(join(dir, 'run/etcd.pid'), 'utf8').trim();
      const again = await bash('hack/local-cluster.sh', ['up', '--dir', dir], {});
      expect(again.code).toBe(0);
      expect(again.stderr).toContain('a partial cluster is running');
      expect(again.stderr).toContain(`stopped etcd (pid ${etcdBefore})`); // not left running beside the new one
      const status = await bash('hack/local-cluster.sh', ['status', '--dir', dir], {});
      expect(status.stdout).toMatch(/etcd: running[\s\S]*kube-apiserver: running[\s\S]*kube-controller-manager: running[\s\S]*readyz=ok/);
    } finally {
      await bash('hack/local-cluster.sh', ['down', '--dir', dir], {});
    }
  }, 300_000);

  it('local-cluster.sh rejects unknown arguments', async () => {
    const r = await bash('hack/local-cluster.sh', ['up', '--bogus'], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown argument '--bogus'");
  });
});
