import { defineConfig } from 'vitest/config';

// Integration tests start real servers (Temporal, OpenBao, sshd) from test/harness;
// files run one at a time so those servers fit within the machine's 2 cores.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/harness/reap-leftovers.ts', 'test/harness/shared-fixtures.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.test-runs/vitest-results.json' },
  },
});
