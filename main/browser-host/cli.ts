/**
 * `npm run host -- --data-dir DIR --port PORT [--recover]`: serves one clinic to this computer's
 * browser. The passphrase comes from CHAIRSIDE_DB_PASSPHRASE (never an argument, which `ps`
 * shows); with --recover, CHAIRSIDE_RECOVERY_KEY re-wraps the key for that new passphrase.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import {
  DEFAULT_PORT,
  type HostSettings,
  StartupError,
  dataDirSchema,
  parseSetting,
  passphraseSchema,
  portSchema,
  recoveryKeySchema,
} from './host-settings.js';
import { reportStartupFailure, runBrowserHost } from './start-host.js';

const USAGE = `Usage: npm run host -- --data-dir DIR [--port PORT] [--recover]
  --data-dir DIR  the clinic's data directory (created at clinic setup)
  --port PORT     port on 127.0.0.1 (default ${DEFAULT_PORT}; 0 picks a free one)
  --recover       re-wrap the database key with CHAIRSIDE_DB_PASSPHRASE using CHAIRSIDE_RECOVERY_KEY
Environment: CHAIRSIDE_DB_PASSPHRASE (required, at least 10 characters), CHAIRSIDE_RECOVERY_KEY (with --recover)`;

const argsSchema = z.strictObject({
  'data-dir': dataDirSchema,
  port: portSchema.optional(),
  recover: z.boolean().optional(),
  help: z.boolean().optional(),
});

/** Reads the arguments and environment into settings, or throws a StartupError saying what is wrong. */
function readSettings(argv: string[], env: NodeJS.ProcessEnv): HostSettings | 'help' {
  let values: unknown;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'data-dir': { type: 'string' },
        port: { type: 'string' },
        recover: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new StartupError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  if ((values as { help?: boolean }).help === true) return 'help';
  const args = argsSchema.safeParse(values);
  if (!args.success) {
    const reasons = args.error.issues.map((issue) => `--${issue.path.join('.')} ${issue.message}`).join('; ');
    throw new StartupError(`${reasons}.\n${USAGE}`);
  }
  return {
    dataDir: args.data['data-dir'],
    port: args.data.port ?? DEFAULT_PORT,
    passphrase: parseSetting(passphraseSchema, env.CHAIRSIDE_DB_PASSPHRASE, 'CHAIRSIDE_DB_PASSPHRASE'),
    recoveryKey: args.data.recover
      ? parseSetting(recoveryKeySchema, env.CHAIRSIDE_RECOVERY_KEY, 'CHAIRSIDE_RECOVERY_KEY (needed by --recover)')
      : undefined,
  };
}

try {
  const settings = readSettings(process.argv.slice(2), process.env);
  if (settings === 'help') process.stdout.write(`${USAGE}\n`);
  else await runBrowserHost(settings);
} catch (error) {
  reportStartupFailure(error);
}
