// ESLint flat config (run as `eslint --config build/eslint.config.mjs`, so paths below are
// relative to the repository root). Besides the TypeScript rules it enforces the layering of
// docs/architecture.md a second time (the per-layer tsconfig files are the first).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = builtinModules.flatMap((name) => [name, `node:${name}`]);

/** no-restricted-imports options for a layer. */
function restrict({ node = false, electron = false, folders = [] }) {
  return {
    'no-restricted-imports': [
      'error',
      {
        paths: [
          ...(node ? nodeBuiltins.map((name) => ({ name, message: 'This layer must not use Node built-ins.' })) : []),
          ...(electron ? [{ name: 'electron', message: 'Only main/electron and preload may import electron.' }] : []),
        ],
        patterns: folders.map((folder) => ({
          group: [`**/${folder}/**`, `**/${folder}`],
          message: `This layer must not import from ${folder}/ (see docs/architecture.md, Layers).`,
        })),
      },
    ],
  };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'bench-results/**', 'test-results/**', 'dist/**', 'out/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  // shared/ runs in main, the renderer and the server: no Node, no DOM-only code, no other layer.
  {
    files: ['shared/**/*.ts'],
    rules: restrict({ node: true, electron: true, folders: ['main', 'renderer', 'preload', 'sync-server'] }),
  },
  // The clinic core runs in plain Node: never electron, never a transport or the UI.
  {
    files: ['main/core/**/*.ts'],
    rules: restrict({ electron: true, folders: ['renderer', 'preload', 'electron', 'browser-host', 'sync-server'] }),
  },
  {
    files: ['main/browser-host/**/*.ts'],
    rules: restrict({ electron: true, folders: ['renderer', 'preload', 'sync-server'] }),
  },
  // The renderer sees the DOM and the typed client only.
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.tsx'],
    rules: restrict({ node: true, electron: true, folders: ['main', 'sync-server', 'preload'] }),
  },
  { files: ['preload/**/*.ts'], rules: restrict({ node: true, folders: ['main', 'renderer', 'sync-server'] }) },
  { files: ['sync-server/**/*.ts'], rules: restrict({ electron: true, folders: ['main', 'renderer', 'preload'] }) },
  // The server's production code never reaches a test harness (test/support/sync-server): only its tests do.
  {
    files: ['sync-server/**/*.ts'],
    ignores: ['sync-server/**/*.test.ts'],
    rules: restrict({ electron: true, folders: ['main', 'renderer', 'preload', 'test'] }),
  },
);
