/**
 * Builds the renderer into dist/renderer (git-ignored), served by the browser host's staticDir
 * and loaded by the desktop shell. Run as `vite build --config renderer/vite.config.ts`; the
 * end-to-end tests build with the same config into a temporary directory.
 *
 * This file runs in Node at build time, not in the renderer: renderer/tsconfig.json leaves it
 * out (vite's types would bring Node's globals into the DOM-only layer), and test/tsconfig.json
 * checks it through the e2e global setup, which imports it.
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  // Vite sets import.meta.dirname when it bundles this config; Node does when a test imports it.
  root: import.meta.dirname,
  // Relative asset URLs: the same build works from http://127.0.0.1:<port>/ and from app://chairside/ in Electron.
  base: './',
  plugins: [react()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill is an inline script, which the strict Content-Security-Policy refuses.
    modulePreload: { polyfill: false },
    // No source maps in what ships; the sources stay out of the package.
    sourcemap: false,
    // Everything from this origin: no data: fonts or scripts inlined into the page.
    assetsInlineLimit: 0,
  },
});
