import { defineConfig } from 'vitest/config';

// Two projects: "unit" (pure logic, beside each concern) and "integration" (test/integration,
// real Kafka, Redis and TSDB started by scripts/services.mjs through the global setup).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: [
            '{core,engine,ingest,topology,rules,scoring,correlate,notify,api,fixtures,bin,bench}/**/*.test.ts',
            'test/unit/**/*.test.ts',
          ],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
