import { defineConfig } from 'vitest/config';

// Three projects: unit tests run anywhere in milliseconds; tool tests drive real tools built from pinned
// Go modules (hack/build-tools.sh) without a cluster; integration tests share one real control plane
// (etcd + kube-apiserver + kube-controller-manager) that the global setup starts once per run.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'tools',
          include: ['test/tools/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          // A first run builds the tool from source (minutes); later runs find it cached.
          hookTimeout: 30 * 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Tests are independent through unique names, but every operator instance watches the whole
          // cluster: files run one after another so one file's operator never acts on another's objects.
          fileParallelism: false,
        },
      },
    ],
  },
});
