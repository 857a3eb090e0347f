/**
 * `npm start`: the desktop shell when Electron's binary is installed (bundled by
 * build/build-electron.mjs, then launched), otherwise the browser host on 127.0.0.1 serving the
 * user interface (built into dist/renderer by `prestart`). The database key is protected either
 * way: by the OS keystore or a passphrase in Electron, by the passphrase in the browser host.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ClinicCore } from './core/clinic-core.js';
import { clinicFilesState } from './core/clinic-files.js';
import { passphraseKeyProvider } from './core/keys/passphrase-key-provider.js';
import { cryptoRandom } from './core/platform/sources.js';
import { DEMO_USERS, populateDemoClinic } from './demo/demo-clinic.js';
import {
  DEFAULT_PORT,
  StartupError,
  dataDirSchema,
  parseSetting,
  passphraseSchema,
  portSchema,
} from './browser-host/host-settings.js';
import { canPrompt, promptHidden } from './browser-host/passphrase-prompt.js';
import { reportStartupFailure, runBrowserHost } from './browser-host/start-host.js';

/** The Electron binary's path, or null when the package or its downloaded binary is missing. */
function locateElectronBinary(): string | null {
  try {
    // The electron package's main export is the path of the binary it downloaded at install.
    const binary: unknown = createRequire(import.meta.url)('electron');
    return typeof binary === 'string' && existsSync(binary) ? binary : null;
  } catch {
    // It throws when the download was skipped (ELECTRON_SKIP_BINARY_DOWNLOAD=1).
    return null;
  }
}

/** Where `npm run build:renderer` puts the user interface. */
const RENDERER_DIR = fileURLToPath(new URL('../dist/renderer', import.meta.url));

/** The built user interface, or undefined (with a note) when it has not been built. */
function builtRenderer(): string | undefined {
  if (existsSync(join(RENDERER_DIR, 'index.html'))) return RENDERER_DIR;
  process.stdout.write(
    `The user interface is not built (${RENDERER_DIR}); serving the API only. Run \`npm run build:renderer\` first.\n`,
  );
  return undefined;
}

const envSchema = z.object({
  CHAIRSIDE_DATA_DIR: dataDirSchema.optional(),
  CHAIRSIDE_PORT: portSchema.optional(),
  CHAIRSIDE_DB_PASSPHRASE: z.string().optional(),
});

/** The passphrase from the environment, else asked for on a terminal (twice for a new clinic). */
async function readPassphrase(fromEnv: string | undefined, dataDir: string): Promise<string> {
  const label = 'CHAIRSIDE_DB_PASSPHRASE';
  if (fromEnv !== undefined) return parseSetting(passphraseSchema, fromEnv, label);
  if (!canPrompt()) {
    throw new StartupError(`${label} is not set and there is no terminal to ask on; set it and start again.`);
  }
  if (clinicFilesState(dataDir) !== 'none') {
    return parseSetting(passphraseSchema, await promptHidden(`Database passphrase for ${dataDir}: `), 'The passphrase');
  }
  // A new clinic: a typo here would lock the data behind a passphrase nobody knows.
  const chosen = parseSetting(passphraseSchema, await promptHidden('Choose a database passphrase: '), 'The passphrase');
  if ((await promptHidden('Type it again: ')) !== chosen) throw new StartupError('The two passphrases differ.');
  return chosen;
}

/** Bundles the Electron side and runs the desktop app; resolves with its exit code. */
async function runDesktopApp(electron: string): Promise<number> {
  const { buildElectron } = await import('../build/build-electron.mjs');
  await buildElectron();
  const entry = fileURLToPath(new URL('../dist/main/main.cjs', import.meta.url));
  const child = spawn(electron, [entry], { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

const DEMO_PATIENTS = 3000;

/**
 * `--demo`: a throwaway clinic in a new temporary folder, filled through the API with synthetic
 * users and patients. Its passphrase is random: the data is synthetic and meant to be discarded.
 */
async function createDemoClinic(): Promise<{ dataDir: string; passphrase: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-demo-'));
  const passphrase = randomBytes(24).toString('base64url');
  process.stdout.write(`Creating a demo clinic with ${DEMO_PATIENTS} synthetic patients in ${dataDir}\n`);
  // Filling goes through the pipeline like any client, so it needs a higher write limit than a person.
  const core = await ClinicCore.open({
    dataDir,
    keyProvider: passphraseKeyProvider(passphrase, cryptoRandom),
    rateLimits: { writesPerMinute: 100_000 },
  });
  try {
    await populateDemoClinic(core, {
      patients: DEMO_PATIENTS,
      onProgress: (done, total) => process.stdout.write(`  patients: ${done}/${total}\n`),
    });
  } finally {
    await core.close();
  }
  process.stdout.write('Demo users (synthetic data only):\n');
  for (const user of DEMO_USERS) {
    process.stdout.write(`  ${user.role.padEnd(12)} ${user.username.padEnd(10)} ${user.password}\n`);
  }
  return { dataDir, passphrase };
}

try {
  const demo = process.argv.includes('--demo');
  const electron = demo ? null : locateElectronBinary();
  if (electron !== null) {
    process.exit(await runDesktopApp(electron));
  }
  process.stdout.write(
    demo
      ? 'The demo runs in the browser host.\n'
      : 'The Electron binary is not installed, so Chairside is served by the browser host instead.\n',
  );
  const env = parseSetting(envSchema, process.env);
  const staticDir = builtRenderer();
  const port = env.CHAIRSIDE_PORT ?? DEFAULT_PORT;
  const clinic = demo ? await createDemoClinic() : null;
  const dataDir = clinic?.dataDir ?? env.CHAIRSIDE_DATA_DIR ?? join(homedir(), '.chairside', 'clinic');
  const passphrase = clinic?.passphrase ?? (await readPassphrase(env.CHAIRSIDE_DB_PASSPHRASE, dataDir));
  await runBrowserHost({ dataDir, port, passphrase }, staticDir !== undefined ? { staticDir } : {});
} catch (error) {
  reportStartupFailure(error);
}
