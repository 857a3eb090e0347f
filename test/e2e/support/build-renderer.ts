/**
 * Global setup of the e2e project: builds the renderer once per run, with the same config as
 * `npm run build:renderer`, into a temporary directory that every test's browser host serves.
 * Importing the config (rather than naming the file) also puts it under test/tsconfig.json.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';
import rendererConfig from '../../../renderer/vite.config.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The built renderer the e2e tests serve. */
    rendererDir: string;
  }
}

export default async function buildRenderer(project: TestProject): Promise<() => void> {
  const outDir = mkdtempSync(join(tmpdir(), 'chairside-renderer-'));
  // Vitest runs with NODE_ENV=test, which would make Vite bundle React's development build;
  // the tests drive the production build that `npm start` serves.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({
      ...rendererConfig,
      configFile: false,
      mode: 'production',
      logLevel: 'warn',
      build: { ...rendererConfig.build, outDir, emptyOutDir: true },
    });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  project.provide('rendererDir', outDir);
  return () => rmSync(outDir, { recursive: true, force: true });
}
