import { defineConfig, defaultServerConditions } from 'vite';
import { SummaryReporter } from './test/summary-reporter.js';

export default defineConfig({
  ssr: { resolve: { conditions: ['@savevm/source', ...defaultServerConditions] } },
  resolve: { conditions: ['@savevm/source'] },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', new SummaryReporter()],
  },
});
