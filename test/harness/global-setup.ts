// Starts one real control plane (etcd + kube-apiserver + kube-controller-manager) for the whole
// integration run through hack/local-cluster.sh, the same script users run, and installs the CRD.
// TIO_KUBECONFIG=path reuses a cluster that is already up (fast local iteration).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';
import { kubectlPath } from './tools.ts';

const repo = resolve(import.meta.dirname, '../..');
let clusterDir: string | undefined;

export default function setup(project: TestProject): () => void {
  let kubeconfig = process.env.TIO_KUBECONFIG;
  if (!kubeconfig) {
    clusterDir = mkdtempSync(join(tmpdir(), 'tio-cluster-'));
    kubeconfig = execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'up', '--dir', clusterDir], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 45 * 60_000,
    }).trim().split('\n').pop()!;
  }
  try {
    return prepare(project, kubeconfig);
  } catch (e) {
    // The cluster's processes run in sessions of their own: nothing else would stop them.
    if (clusterDir) execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'down', '--dir', clusterDir], { stdio: ['ignore', 'ignore', 'inherit'] });
    throw e;
  }
}

/** The CRDs, the admission gate and the operator's identity on a running cluster; returns the teardown. */
function prepare(project: TestProject, kubeconfig: string): () => void {
  const kubectl = kubectlPath();
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-f', join(repo, 'crds')], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'wait', '--for', 'condition=Established', '--timeout=60s', 'crd/tenantisolations.isolation.tenancy.dev', 'crd/isolationprofiles.isolation.tenancy.dev', 'crd/isolationbaselines.isolation.tenancy.dev'], { stdio: ['ignore', 'ignore', 'inherit'] });
  // The admission gate is part of the default install (config/default), so every test runs with it. Its
  // membership keys ConfigMap lives in the operator's namespace.
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '-f', join(repo, 'config/manager/namespace.yaml')], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'apply', '--server-side', '-k', join(repo, 'config/admission')], { stdio: ['ignore', 'ignore', 'inherit'] });
  project.provide('kubeconfig', kubeconfig);
  project.provide('kubectl', kubectl);
  const operatorKubeconfig = operatorIdentity(kubectl, kubeconfig);
  project.provide('operatorKubeconfig', operatorKubeconfig);
  return () => {
    rmSync(dirname(operatorKubeconfig), { recursive: true, force: true });
    if (!clusterDir) return;
    execFileSync('bash', [join(repo, 'hack/local-cluster.sh'), 'down', '--dir', clusterDir], { stdio: ['ignore', 'ignore', 'inherit'] });
    // The cluster's directory (etcd data, 70-200 MB, logs, certificates) is kept only when it can help:
    // a failed run, or TIO_KEEP_CLUSTER=1.
    const state = project.vitest.state;
    const failed = state.getCountOfFailedTests() + state.getFailedFilepaths().length + state.getUnhandledErrors().length > 0;
    if (failed || process.env.TIO_KEEP_CLUSTER === '1') console.error(`[global-setup] control-plane logs kept in ${clusterDir}`);
    else rmSync(clusterDir, { recursive: true, force: true });
  };
}

/**
 * The operator under test runs as the shipped ServiceAccount, bound only to config/rbac: a missing verb
 * fails the tests, an extra one is visible in review. Returns a kubeconfig with a bound token.
 */
function operatorIdentity(kubectl: string, kubeconfig: string): string {
  const k = (...args: string[]): string => execFileSync(kubectl, ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  k('apply', '-f', join(repo, 'config/manager/namespace.yaml'));
  k('apply', '-k', join(repo, 'config/rbac'));
  const token = k('create', 'token', 'tenant-isolation-operator', '-n', 'tenant-isolation-system', '--duration=6h').trim();
  const admin = k('config', 'view', '--raw', '--minify', '-o', 'json');
  const cluster = (JSON.parse(admin) as { clusters: { cluster: Record<string, string> }[] }).clusters[0]!.cluster;
  const file = join(mkdtempSync(join(tmpdir(), 'tio-operator-')), 'kubeconfig');
  writeFileSync(file, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'operator',
    clusters: [{ name: 'local', cluster: { server: cluster.server, 'certificate-authority-data': cluster['certificate-authority-data'] } }],
    users: [{ name: 'operator', user: { token } }],
    contexts: [{ name: 'operator', context: { cluster: 'local', user: 'operator' } }],
  }), { mode: 0o600 });
  return file;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
    /** The operator's own identity: the tenant-isolation-operator ServiceAccount and config/rbac only. */
    operatorKubeconfig: string;
  }
}
