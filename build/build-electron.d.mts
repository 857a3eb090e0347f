/** Types of build-electron.mjs, for the packaging test. */
import type { Metafile } from 'esbuild';

export function buildElectron(options?: { outDir?: string; minify?: boolean }): Promise<{
  main: Metafile;
  worker: Metafile;
  preload: Metafile;
  unlock: Metafile;
}>;
