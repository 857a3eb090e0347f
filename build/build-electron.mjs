// Bundles the Electron side of the app with esbuild (`npm run build:electron`):
//   dist/main/main.cjs           main/electron/main.ts and everything it imports (core, shared, zod,
//                                pino, electron-updater), CommonJS for Electron's main process;
//                                `electron` and the native better-sqlite3-multiple-ciphers stay
//                                requires (the native module is rebuilt for Electron by
//                                electron-builder and unpacked from app.asar).
//   dist/main/bcrypt-worker.mjs  the password-hashing worker the core starts beside its module.
//   dist/preload/index.cjs       the clinic window's preload; dist/preload/unlock.cjs the unlock
//                                prompt's. A sandboxed preload can require only `electron` (and a
//                                few polyfills), so each is one self-contained file.
// The renderer is built separately by Vite into dist/renderer. Run as a script, or import
// buildElectron() (the packaging test builds into a temporary directory).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Electron 39 runs Node 22 in main and Chromium 142 in its renderers. */
const NODE_TARGET = 'node22';
const CHROME_TARGET = 'chrome142';

// The core finds its bcrypt worker with `new URL('./bcrypt-worker.mjs', import.meta.url)`. In the
// CommonJS bundle import.meta does not exist, so it is defined as this file's own URL; the
// worker is emitted beside it.
const importMetaUrlShim =
  '"use strict";\nconst __chairsideImportMetaUrl = require("node:url").pathToFileURL(__filename).href;';

/** Builds into outDir (default dist/); resolves to the esbuild metafiles, by output. */
export async function buildElectron({ outDir = join(root, 'dist'), minify = false } = {}) {
  const common = {
    absWorkingDir: root,
    bundle: true,
    logLevel: 'warning',
    legalComments: 'linked',
    metafile: true,
    minify,
  };
  const main = build({
    ...common,
    entryPoints: ['main/electron/main.ts'],
    outfile: join(outDir, 'main', 'main.cjs'),
    platform: 'node',
    format: 'cjs',
    target: NODE_TARGET,
    external: ['electron', 'better-sqlite3-multiple-ciphers'],
    define: { 'import.meta.url': '__chairsideImportMetaUrl' },
    banner: { js: importMetaUrlShim },
    sourcemap: 'linked',
  });
  const worker = build({
    ...common,
    entryPoints: ['main/core/auth/bcrypt-worker.mjs'],
    outfile: join(outDir, 'main', 'bcrypt-worker.mjs'),
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
  });
  const preload = (entry, name) =>
    build({
      ...common,
      entryPoints: [entry],
      outfile: join(outDir, 'preload', `${name}.cjs`),
      // The sandboxed preload has browser globals and `require('electron')`, not Node.
      platform: 'browser',
      format: 'cjs',
      target: CHROME_TARGET,
      external: ['electron'],
    });
  const [mainResult, workerResult, clinicPreload, unlockPreload] = await Promise.all([
    main,
    worker,
    preload('preload/index.ts', 'index'),
    preload('preload/unlock.ts', 'unlock'),
  ]);
  return {
    main: mainResult.metafile,
    worker: workerResult.metafile,
    preload: clinicPreload.metafile,
    unlock: unlockPreload.metafile,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await buildElectron({ minify: process.argv.includes('--minify') });
  console.log('Built dist/main and dist/preload.');
}
