import { builtinModules } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildElectron } from '../../build/build-electron.mjs';
import { REQUIRED_FILES, checkRelease } from '../../build/release-checks.mjs';

/**
 * electron-builder is not installed here (packaging runs on the release machines), so this test
 * reads electron-builder.yml as data and checks every setting the security of the shipped app
 * depends on. It also runs the real bundling step (esbuild) into a temporary directory. No
 * Electron, and no stand-in for it, is involved.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
/** The parts of electron-builder's configuration the test reads (its schema is not installed). */
interface BuilderConfig {
  electronFuses: Record<string, boolean>;
  asar: boolean;
  asarUnpack: string[];
  npmRebuild: boolean;
  files: string[];
  extraMetadata: { main: string };
  forceCodeSigning: boolean;
  beforePack: string;
  publish: unknown;
  generateUpdatesFilesForAllChannels: boolean;
  mac: {
    hardenedRuntime: boolean;
    notarize: boolean;
    entitlements: string;
    entitlementsInherit: string;
    target: string[];
  };
  win: { target: string[]; verifyUpdateCodeSignature: boolean };
  nsis: { deleteAppDataOnUninstall: boolean };
  linux: { target: string[] };
}
const config = parse(readFileSync(join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

/** Every [path, value] pair of the configuration. */
function entries(value: unknown, path = ''): Array<[string, unknown]> {
  if (typeof value !== 'object' || value === null) return [[path, value]];
  return Object.entries(value).flatMap(([key, child]) => [
    [`${path}.${key}`, child] as [string, unknown],
    ...entries(child, `${path}.${key}`),
  ]);
}

describe('electron-builder.yml', () => {
  it('sets every Electron fuse for production', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableCookieEncryption: true,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      enableEmbeddedAsarIntegrityValidation: true,
      onlyLoadAppFromAsar: true,
      loadBrowserProcessSpecificV8Snapshot: false,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('packs the app into app.asar with native modules unpacked and rebuilt for Electron', () => {
    expect(config.asar).toBe(true);
    expect(config.asarUnpack).toContain('**/*.node');
    expect(config.npmRebuild).toBe(true);
  });

  it('ships only the bundles and the built renderer, started from the main bundle', () => {
    expect(config.files).toEqual([
      'package.json',
      'dist/main/**/*',
      'dist/preload/**/*',
      'dist/renderer/**/*',
      '!**/*.map',
    ]);
    expect(config.extraMetadata.main).toBe('dist/main/main.cjs');
    expect(REQUIRED_FILES).toContain(config.extraMetadata.main);
  });

  it('refuses to package without signing, and runs the release checks first', () => {
    expect(config.forceCodeSigning).toBe(true);
    expect(config.beforePack).toBe('build/release-checks.mjs');
  });

  it('signs macOS builds with the hardened runtime, minimal entitlements and notarization', () => {
    expect(config.mac).toMatchObject({ hardenedRuntime: true, notarize: true });
    expect(config.mac.entitlements).toBe('build/entitlements.mac.plist');
    expect(config.mac.entitlementsInherit).toBe('build/entitlements.mac.plist');
    const plist = readFileSync(join(root, config.mac.entitlements), 'utf8').replace(/<!--[\s\S]*?-->/g, '');
    const granted = [...plist.matchAll(/<key>([^<]+)<\/key>/g)].map((match) => match[1]);
    expect(granted).toEqual(['com.apple.security.cs.allow-jit']);
  });

  it('builds the installers of each platform, with the zip macOS updates need', () => {
    expect(config.win.target).toEqual(['nsis']);
    expect(config.mac.target).toEqual(['dmg', 'zip']);
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
  });

  it('has no option that turns off a signature, integrity or notarization check', () => {
    const guarded = /verif|sign|notariz|hardenedRuntime|integrity|gatekeeper/i;
    const off = entries(config).filter(([path, value]) => guarded.test(path) && (value === false || value === null));
    expect(off).toEqual([]);
    expect(config.win.verifyUpdateCodeSignature).toBe(true);
    expect(JSON.stringify(config)).not.toMatch(/forceDevUpdateConfig|disableIntegrity|identity/);
  });

  it('publishes updates through a feed whose https URL is given at packaging time', () => {
    expect(config.publish).toEqual([{ provider: 'generic', url: '${env.CHAIRSIDE_UPDATE_URL}', channel: 'latest' }]);
    expect(config.generateUpdatesFilesForAllChannels).toBe(true);
  });

  it('never deletes the clinic data when the app is uninstalled', () => {
    expect(config.nsis.deleteAppDataOnUninstall).toBe(false);
  });
});

describe('release checks before packing', () => {
  let project: string;
  const env = { CHAIRSIDE_UPDATE_URL: 'https://updates.chairside.example/desktop' };
  beforeAll(() => {
    project = mkdtempSync(join(tmpdir(), 'chairside-release-'));
    for (const file of REQUIRED_FILES) {
      mkdirSync(dirname(join(project, file)), { recursive: true });
      writeFileSync(join(project, file), '');
    }
  });
  afterAll(() => rmSync(project, { recursive: true, force: true }));

  it('lets a complete build with an https feed through', () => {
    expect(checkRelease({ projectDir: project, env, platform: 'win32' })).toEqual([]);
  });

  it('stops a build whose renderer or bundles are missing', () => {
    const empty = mkdtempSync(join(tmpdir(), 'chairside-release-'));
    try {
      const problems = checkRelease({ projectDir: empty, env, platform: 'linux' });
      expect(problems).toHaveLength(REQUIRED_FILES.length);
      expect(problems.join('\n')).toContain('dist/renderer/index.html');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('stops a build whose update feed is not https', () => {
    for (const url of [undefined, 'http://updates.chairside.example/', 'not a url']) {
      expect(checkRelease({ projectDir: project, env: { CHAIRSIDE_UPDATE_URL: url }, platform: 'linux' })).toEqual([
        'CHAIRSIDE_UPDATE_URL must be the https URL of the update feed.',
      ]);
    }
  });

  it('stops a macOS build that would skip notarization for want of credentials', () => {
    expect(checkRelease({ projectDir: project, env, platform: 'darwin' })).toEqual([
      'macOS notarization needs one complete set of APPLE_* variables.',
    ]);
    const apiKey = { APPLE_API_KEY: '/keys/AuthKey.p8', APPLE_API_KEY_ID: 'ABC123', APPLE_API_ISSUER: 'issuer' };
    expect(checkRelease({ projectDir: project, env: { ...env, ...apiKey }, platform: 'darwin' })).toEqual([]);
    expect(
      checkRelease({ projectDir: project, env: { ...env, APPLE_ID: 'a@example.com' }, platform: 'darwin' }),
    ).toHaveLength(1);
  });
});

describe('bundling main and the preloads', () => {
  let outDir: string;
  let built: Awaited<ReturnType<typeof buildElectron>>;
  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'chairside-bundle-'));
    built = await buildElectron({ outDir });
  }, 60_000);
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  const externals = (metafile: (typeof built)['main']) =>
    new Set(
      Object.values(metafile.outputs).flatMap((output) =>
        output.imports.filter((entry) => entry.external).map((entry) => entry.path),
      ),
    );

  it('makes each preload one file that requires only electron', () => {
    expect([...externals(built.preload)]).toEqual(['electron']);
    expect([...externals(built.unlock)]).toEqual(['electron']);
  });

  it('leaves only Node, electron and the native database module outside the main bundle', () => {
    const node = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
    const others = [...externals(built.main)].filter((name) => !node.has(name));
    expect(others.sort()).toEqual(['better-sqlite3-multiple-ciphers', 'electron']);
  });

  it('puts the bcrypt worker beside the main bundle, where the core looks for it', () => {
    const main = readFileSync(join(outDir, 'main', 'main.cjs'), 'utf8');
    expect(main).toContain('new URL("./bcrypt-worker.mjs", __chairsideImportMetaUrl)');
    expect(readFileSync(join(outDir, 'main', 'bcrypt-worker.mjs'), 'utf8')).toContain('parentPort');
    expect([...externals(built.worker)].every((name) => !name.includes('bcryptjs'))).toBe(true);
  });
});
