import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// One run covers every layer: unit tests beside the code, integration tests (disk, HTTP) and
// end-to-end tests under test/e2e. Forks, not threads: native SQLite modules and worker pools.
// Two projects, so the renderer is built (the e2e project's global setup) only when a run
// includes end-to-end tests.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['**/*.test.ts'],
          exclude: ['**/node_modules/**', 'test/bench/**', 'test/e2e/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          globalSetup: ['test/e2e/support/build-renderer.ts'],
          // A browser, a clinic core and bcrypt per test: slower than a unit test, and CI machines vary.
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
