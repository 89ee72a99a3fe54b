import { defineConfig } from 'vitest/config';

// Two projects: unit tests run anywhere in milliseconds; integration tests share one real control plane
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
