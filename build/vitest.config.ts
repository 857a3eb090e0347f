import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One run covers every layer: unit tests beside the code, integration tests (disk, HTTP) and
// end-to-end tests under test/. Forks, not threads: native SQLite modules and worker pools.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**', 'test/bench/**'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
