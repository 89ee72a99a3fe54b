// Starts one real control plane (etcd + kube-apiserver + kube-controller-manager) for the whole
// integration run through hack/local-cluster.sh, the same script users run, and installs the CRD.
// TIO_KUBECONFIG=path reuses a cluster that is already up (fast local iteration).
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

const repo = resolve(import.meta.dirname, '../..');
let clusterDir: string | undefined;

export function kubectlPath(): string {
  const bin = execFileSync('bash', [join(repo, 'hack/build-control-plane.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  return join(bin, 'kubectl');
}

export default function setup(project: TestProject): () => void {
  let kubeconfig = process.env.TIO_KUBECONFIG;
  if (!kubeconfig) {
    clusterDir = mkdtempSync(join(tmpdir(), 'tio-cluster-'));
    kubeconfig = execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'up', '--dir', clusterDir], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 45 * 60_000,
    }).trim().split('\n').pop()!;
  }
  const kubectl = kubectlPath();
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-f', join(repo, 'crds')], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'wait', '--for', 'condition=Established', '--timeout=60s', 'crd/tenantisolations.isolation.tenancy.dev'], { stdio: ['ignore', 'ignore', 'inherit'] });
  project.provide('kubeconfig', kubeconfig);
  project.provide('kubectl', kubectl);
  return () => {
    if (clusterDir) execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'down', '--dir', clusterDir], { stdio: ['ignore', 'ignore', 'inherit'] });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
  }
}
