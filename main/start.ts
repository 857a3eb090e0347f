/**
 * `npm start [-- --demo | --recover]`: the desktop shell when Electron's binary is installed
 * (bundled by build/build-electron.mjs, then launched), otherwise the browser host on 127.0.0.1
 * serving the user interface (built into dist/renderer by `prestart`). The database key is
 * protected either way: by the OS keystore or a passphrase in Electron, by the passphrase in the
 * browser host. `--demo` and `--recover` always run in the browser host.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
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
  recoveryKeySchema,
} from './browser-host/host-settings.js';
import { askForPassphrase, canPrompt, promptHidden } from './browser-host/passphrase-prompt.js';
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

const USAGE = `Usage: npm start [-- --demo | --recover]
  --demo     try Chairside on a throwaway clinic of synthetic patients (deleted when it stops)
  --recover  the passphrase is lost: re-wrap the database key for a new passphrase with the
             recovery key printed at clinic setup (CHAIRSIDE_RECOVERY_KEY, or asked for)
Environment: CHAIRSIDE_DATA_DIR, CHAIRSIDE_PORT, CHAIRSIDE_DB_PASSPHRASE (asked for when unset),
CHAIRSIDE_RECOVERY_KEY (with --recover), CHAIRSIDE_DEMO_PATIENTS (with --demo, default 3000)`;

const envSchema = z.object({
  CHAIRSIDE_DATA_DIR: dataDirSchema.optional(),
  CHAIRSIDE_PORT: portSchema.optional(),
  CHAIRSIDE_DB_PASSPHRASE: z.string().optional(),
  CHAIRSIDE_RECOVERY_KEY: z.string().optional(),
  CHAIRSIDE_DEMO_PATIENTS: z
    .string()
    .regex(/^\d{1,6}$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(100_000))
    .optional(),
});

/** The flags `npm start --` takes; anything else is refused with the usage. */
function readFlags(argv: string[]): { demo: boolean; recover: boolean; help: boolean } {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { demo: { type: 'boolean' }, recover: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.demo === true && values.recover === true) throw new Error('--demo and --recover do not go together');
    return { demo: values.demo === true, recover: values.recover === true, help: values.help === true };
  } catch (error) {
    throw new StartupError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
}

/** Why a typed passphrase is refused (too short), or null. */
function passphraseProblem(answer: string): string | null {
  try {
    parseSetting(passphraseSchema, answer, 'The passphrase');
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const tell = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/**
 * The passphrase from the environment, else asked for on a terminal (again after a typo, a few
 * times; twice for a new clinic, or for the new passphrase at recovery).
 */
async function readPassphrase(fromEnv: string | undefined, dataDir: string, recovering: boolean): Promise<string> {
  const label = 'CHAIRSIDE_DB_PASSPHRASE';
  if (fromEnv !== undefined) return parseSetting(passphraseSchema, fromEnv, label);
  if (!canPrompt()) {
    throw new StartupError(`${label} is not set and there is no terminal to ask on; set it and start again.`);
  }
  const existing = clinicFilesState(dataDir) !== 'none' && !recovering;
  return askForPassphrase(promptHidden, {
    question: recovering
      ? 'Choose a new database passphrase: '
      : existing
        ? `Database passphrase for ${dataDir}: `
        : 'Choose a database passphrase: ',
    confirm: !existing,
    check: passphraseProblem,
    tell,
  });
}

/** `--recover`: the recovery key from the environment, else asked for on a terminal. */
async function readRecoveryKey(fromEnv: string | undefined): Promise<string> {
  const label = 'CHAIRSIDE_RECOVERY_KEY';
  if (fromEnv !== undefined) return parseSetting(recoveryKeySchema, fromEnv, label);
  if (!canPrompt()) {
    throw new StartupError(`${label} (needed by --recover) is not set and there is no terminal to ask on.`);
  }
  return parseSetting(
    recoveryKeySchema,
    await promptHidden('Recovery key (printed at clinic setup): '),
    'The recovery key',
  );
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
 * Deletes the demo folder when the process ends, however it ends: a normal exit, SIGINT/SIGTERM
 * (the browser host's stop, or the interim handlers below while the clinic is being filled), or
 * a failed start. Nobody could open it again (its passphrase is never shown), so a kept copy
 * would only be ~9 MB of litter per run. Returns the function that retires the interim handlers
 * once the browser host has installed its own.
 */
function removeOnExit(dataDir: string): () => void {
  process.on('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  // Until the host listens, a signal would end the process the operating system's way, which
  // skips 'exit' handlers; exiting from a handler runs them. 130/143: killed by SIGINT/SIGTERM.
  const interim = (signal: NodeJS.Signals): void => process.exit(signal === 'SIGINT' ? 130 : 143);
  process.on('SIGINT', interim);
  process.on('SIGTERM', interim);
  return () => {
    process.off('SIGINT', interim);
    process.off('SIGTERM', interim);
  };
}

/**
 * `--demo`: a throwaway clinic in a new temporary folder, filled through the API with synthetic
 * users and patients, deleted when Chairside stops. Its passphrase is random and never shown:
 * the data is synthetic and meant to be discarded.
 */
async function createDemoClinic(
  patients: number,
): Promise<{ dataDir: string; passphrase: string; hostListening: () => void }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-demo-'));
  const hostListening = removeOnExit(dataDir);
  const passphrase = randomBytes(24).toString('base64url');
  process.stdout.write(
    `Creating a demo clinic with ${patients} synthetic patients in ${dataDir} (deleted when Chairside stops)\n`,
  );
  // Filling goes through the pipeline like any client, so it needs a higher write limit than a person.
  const core = await ClinicCore.open({
    dataDir,
    keyProvider: passphraseKeyProvider(passphrase, cryptoRandom),
    rateLimits: { writesPerMinute: 100_000 },
  });
  try {
    await populateDemoClinic(core, {
      patients,
      onProgress: (done, total) => process.stdout.write(`  patients: ${done}/${total}\n`),
    });
  } finally {
    await core.close();
  }
  process.stdout.write('Demo users (synthetic data only):\n');
  for (const user of DEMO_USERS) {
    process.stdout.write(`  ${user.role.padEnd(12)} ${user.username.padEnd(10)} ${user.password}\n`);
  }
  return { dataDir, passphrase, hostListening };
}

try {
  const flags = readFlags(process.argv.slice(2));
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
  } else {
    const electron = flags.demo || flags.recover ? null : locateElectronBinary();
    if (electron !== null) {
      process.exit(await runDesktopApp(electron));
    }
    process.stdout.write(
      flags.demo
        ? 'The demo runs in the browser host.\n'
        : flags.recover
          ? 'Recovery runs in the browser host.\n'
          : 'The Electron binary is not installed, so Chairside is served by the browser host instead.\n',
    );
    const env = parseSetting(envSchema, process.env);
    const staticDir = builtRenderer();
    const port = env.CHAIRSIDE_PORT ?? DEFAULT_PORT;
    const clinic = flags.demo ? await createDemoClinic(env.CHAIRSIDE_DEMO_PATIENTS ?? DEMO_PATIENTS) : null;
    const dataDir = clinic?.dataDir ?? env.CHAIRSIDE_DATA_DIR ?? join(homedir(), '.chairside', 'clinic');
    const recoveryKey = flags.recover ? await readRecoveryKey(env.CHAIRSIDE_RECOVERY_KEY) : undefined;
    const passphrase =
      clinic?.passphrase ?? (await readPassphrase(env.CHAIRSIDE_DB_PASSPHRASE, dataDir, flags.recover));
    await runBrowserHost({ dataDir, port, passphrase, recoveryKey }, staticDir !== undefined ? { staticDir } : {});
    clinic?.hostListening();
  }
} catch (error) {
  reportStartupFailure(error);
}
