/**
 * Starting and stopping the browser host, shared by `npm run host` (cli.ts) and `npm start`:
 * open the clinic with the passphrase (after a recovery re-wrap when asked), listen on
 * loopback, print where, and on SIGINT/SIGTERM close the server and then the core.
 *
 * Its output may be a pipe whose reader went away or stopped reading (a supervisor that died, a
 * test): a write to a closed pipe fails (EPIPE) and must not crash a stop half-way, and a write
 * that a full pipe holds pending must not keep the process alive, so the stop has a deadline.
 */
import { resolve } from 'node:path';
import { ClinicCore } from '../core/clinic-core.js';
import { clinicFilesState, recoverClinicKey } from '../core/clinic-files.js';
import { passphraseKeyProvider } from '../core/keys/passphrase-key-provider.js';
import { KeyUnwrapError } from '../core/keys/wrapped-key.js';
import { cryptoRandom } from '../core/platform/sources.js';
import { type HostSettings, StartupError } from './host-settings.js';
import { createBrowserHost, listenOnLoopback } from './server.js';

/**
 * How long a stop may take before the process exits anyway: closing the server and checkpointing
 * the database take well under a second; what outlasts this is output nobody reads.
 */
const STOP_DEADLINE_MS = 10_000;

/** The line scripts and tests wait for; the URL is the real one, also with port 0. */
export function listeningLine(url: string): string {
  return `Chairside browser host listening on ${url}`;
}

/** Re-wraps the database key with the new passphrase, using the recovery key printed at setup. */
async function recover(dataDir: string, recoveryKey: string, newPassphrase: string): Promise<void> {
  if (clinicFilesState(dataDir) !== 'complete') {
    throw new StartupError(
      `--recover needs an existing clinic, and there is none (or only part of one) in ${dataDir}.`,
    );
  }
  try {
    await recoverClinicKey(dataDir, recoveryKey, passphraseKeyProvider(newPassphrase, cryptoRandom), cryptoRandom);
  } catch (error) {
    if (error instanceof KeyUnwrapError) {
      throw new StartupError(
        `The recovery key does not open the clinic in ${dataDir}: ${error.message} Nothing was changed.`,
      );
    }
    throw error;
  }
  process.stdout.write('The database key is now protected by the new passphrase.\n');
}

/** Opens the clinic; a wrong passphrase becomes a StartupError and leaves the files as they were. */
async function openCore(dataDir: string, passphrase: string): Promise<ClinicCore> {
  try {
    // The default (strong) scrypt cost: this wrapping is what guards the data at rest.
    return await ClinicCore.open({ dataDir, keyProvider: passphraseKeyProvider(passphrase, cryptoRandom) });
  } catch (error) {
    if (error instanceof KeyUnwrapError) {
      throw new StartupError(
        `Could not open the clinic in ${dataDir}: ${error.message} Nothing was changed. ` +
          'If the passphrase is lost, recover with the recovery key printed at clinic setup: ' +
          `\`npm start -- --recover\` (or \`npm run host -- --data-dir ${dataDir} --recover\` with CHAIRSIDE_RECOVERY_KEY set).`,
      );
    }
    throw error;
  }
}

/** What the host serves besides the API. */
export interface HostContent {
  /** A built renderer (dist/renderer) to serve at `/`; without it, the placeholder page. */
  readonly staticDir?: string;
}

/** Starts the host and resolves once it listens; it then runs until SIGINT or SIGTERM. */
export async function runBrowserHost(settings: HostSettings, content: HostContent = {}): Promise<void> {
  tolerateClosedOutput();
  const dataDir = resolve(settings.dataDir);
  if (settings.recoveryKey !== undefined) await recover(dataDir, settings.recoveryKey, settings.passphrase);
  const core = await openCore(dataDir, settings.passphrase);
  const app = createBrowserHost(core, content.staticDir !== undefined ? { staticDir: content.staticDir } : {});
  let url: string;
  try {
    ({ url } = await listenOnLoopback(app, { port: settings.port }));
  } catch (error) {
    await app.close();
    await core.close();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new StartupError(`Port ${settings.port} is already in use; choose another with --port or CHAIRSIDE_PORT.`);
    }
    throw error;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      // A second Ctrl-C while closing: the person wants out now.
      process.stderr.write(`Received ${signal} again; exiting without waiting.\n`);
      process.exit(1);
    }
    stopping = true;
    process.stdout.write(`Received ${signal}; stopping the browser host.\n`);
    // Unref'd: a stop that finishes lets the process end at once; one held up by output still
    // pending on a full pipe ends here, after the database has been closed.
    setTimeout(() => process.exit(process.exitCode ?? 0), STOP_DEADLINE_MS).unref();
    // Server first, so no request reaches a closed database; then the core checkpoints and closes it.
    app
      .close()
      .then(() => core.close())
      .then(() => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      })
      .catch((error: unknown) => {
        process.stderr.write(`Stopping failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exitCode = 1;
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Only now: whoever waits for this line may signal at once, and before the handlers are
  // installed a SIGTERM ends the process the operating system's way, with the database open.
  process.stdout.write(`${listeningLine(url)}\n`);
}

/**
 * A failed write to standard output or error (EPIPE: the reader closed the pipe) would be an
 * unhandled 'error' and end the process wherever it was, a stop included; nobody is left to read
 * the output, so the failure is dropped and the host goes on.
 */
function tolerateClosedOutput(): void {
  for (const output of [process.stdout, process.stderr]) output.on('error', () => undefined);
}

/** Prints why starting failed and sets a non-zero exit code; shared by both entry points. */
export function reportStartupFailure(error: unknown): void {
  if (error instanceof StartupError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    // Core errors carry plain texts of their own (an incomplete data directory); no patient data exists yet here.
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    process.stderr.write(`Chairside browser host could not start. ${message}\n`);
  }
  process.exitCode = 1;
}
