/**
 * The operator's command line (`npm run server -- ...`):
 *
 *   --data-dir DIR [--port PORT] [--host HOST] [--tls-cert FILE --tls-key FILE] [--insecure-http]
 *       serves the sync protocol with the embedded storage in DIR
 *   clinic create --name NAME --data-dir DIR   one JSON line: {"clinicId","enrollmentCode"}
 *   clinic list --data-dir DIR                 one JSON line: {"clinics":[...]}
 *   clinic code --clinic ID --data-dir DIR     one JSON line: a new {"clinicId","enrollmentCode"}
 *   device list --clinic ID --data-dir DIR     one JSON line: {"devices":[...]}
 *   device revoke --clinic ID --device ID [--reason TEXT] --data-dir DIR
 *   audit export --clinic ID --data-dir DIR --out FILE   the clinic's audit log for `npm run audit:verify`
 *   audit verify --clinic ID --data-dir DIR [--since-checkpoint FILE]
 *       one JSON verdict line; exits 1 when the log does not verify, or (with FILE, a checkpoint
 *       saved outside the server) when the log no longer extends that checkpoint
 *   changes compact --clinic ID --data-dir DIR one JSON line: {"clinicId","horizon","removed","kept"}
 *   backup --data-dir DIR --out BACKUP_DIR     an online, encrypted copy of the embedded storage
 *   restore --from BACKUP_DIR --data-dir NEW_DIR [--master-key-file FILE]
 *   backup --postgres-owner URL --out BACKUP_DIR
 *       pg_dump of the PostgreSQL storage (NOT encrypted); the role needs BYPASSRLS or superuser
 *   restore --from BACKUP_DIR --postgres-owner URL --app-role NAME --postgres APP_URL
 *       into a database without the storage's schemas; grants the app role as db migrate does,
 *       then verifies every clinic's audit log (needs CHAIRSIDE_SYNC_MASTER_KEY)
 *   db migrate --postgres-owner URL --app-role NAME [--master-key-file FILE]
 *       PostgreSQL schema steps, run as the owner role; a step that encrypts existing clinics'
 *       data needs the master key (CHAIRSIDE_SYNC_MASTER_KEY or FILE)
 *
 * serve also takes `--compact-every-hours N`: every clinic's change log is compacted every N hours
 * (ops/compaction-schedule.ts; off unless given), and `--trusted-proxy LIST` (or
 * CHAIRSIDE_SYNC_TRUSTED_PROXIES): the comma-separated addresses or CIDR ranges of the reverse
 * proxies whose X-Forwarded-For names the client (http/trusted-proxies.ts; none unless given, so
 * the header is ignored and the peer's address counts).
 *
 * Every other command also runs on PostgreSQL: `--postgres URL` (the app role) or
 * CHAIRSIDE_SYNC_PG_URL instead of --data-dir (cli/storage-choice.ts). With TLS,
 * `--redirect-http PORT` also listens on plain HTTP, answering only 308 redirects to HTTPS.
 *
 * Commands print exactly one JSON line on stdout; a failure prints one JSON error envelope on
 * stderr and exits non-zero. Plain HTTP is served only on a loopback address unless
 * --insecure-http says otherwise; TLS needs both --tls-cert and --tls-key.
 */
import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { z } from 'zod';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { exportClinicAuditLog } from '../audit-export/export.js';
import { savedCheckpointNote } from '../audit-export/saved-checkpoint.js';
import { deriveServerKeys } from '../auth/server-keys.js';
import { createHttpsRedirectServer } from '../https-redirect.js';
import { nonBlockingLogDestination } from '../log-destination.js';
import { verifyClinicAuditLog } from '../ops/audit-verify.js';
import { scheduleCompaction } from '../ops/compaction-schedule.js';
import { BackupError } from '../ops/sqlite-backup.js';
import { PostgresChangeNotifier, announceRevocation } from '../live/postgres-change-notifier.js';
import { TRUSTED_PROXIES_ENV, trustedProxyListSchema } from '../http/trusted-proxies.js';
import { createSyncServer } from '../server.js';
import { AUTH_SCHEMA, RATE_LIMIT_TABLE } from '../storage/postgres/migrations/0080-auth-state.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { type SyncStorage, SyncStorageError } from '../storage/storage.js';
import { MasterKeyError } from './master-key.js';
import {
  backupDataDir,
  backupPostgresDatabase,
  migrateDatabase,
  restoreDataDir,
  restorePostgresDatabase,
} from './ops-commands.js';
import {
  PG_URL_ENV,
  StorageChoiceError,
  chooseStorage,
  masterKeyFor,
  openChosenStorage,
  rateLimitPool,
} from './storage-choice.js';

/** How long an exiting server waits for its last log lines to reach a slow reader of its output. */
const LOG_FLUSH_DEADLINE_MS = 1_000;
/**
 * How long a shutdown may take before the process exits anyway: longer than requests in flight
 * and a compaction in progress need, short enough that a stuck step never keeps a server around.
 */
const SHUTDOWN_DEADLINE_MS = 60_000;

/** Enrollment codes made by the CLI stay valid this long. */
const CLI_CODE_TTL_MS = 24 * 60 * 60_000;

const portSchema = z
  .string()
  .regex(/^[0-9]{1,5}$/)
  .transform(Number)
  .refine((port) => port <= 65_535);

const optionsSchema = z.strictObject({
  'data-dir': z.string().min(1).optional(),
  postgres: z.string().min(1).optional(),
  'postgres-owner': z.string().min(1).optional(),
  'app-role': z.string().min(1).optional(),
  from: z.string().min(1).optional(),
  'master-key-file': z.string().min(1).optional(),
  'redirect-http': portSchema.optional(),
  'trusted-proxy': trustedProxyListSchema.optional(),
  // Hours between scheduled compactions of every clinic (off when absent); at most 10 years.
  'compact-every-hours': z
    .string()
    .regex(/^[0-9]{1,6}(\.[0-9]{1,3})?$/)
    .transform(Number)
    .refine((hours) => hours >= 0.05 && hours <= 87_600)
    .optional(),
  port: z
    .string()
    .regex(/^[0-9]{1,5}$/)
    .transform(Number)
    .refine((port) => port <= 65_535)
    .optional(),
  host: z.string().min(1).optional(),
  'tls-cert': z.string().min(1).optional(),
  'tls-key': z.string().min(1).optional(),
  'insecure-http': z.boolean().optional(),
  name: z.string().min(1).optional(),
  clinic: z.string().min(1).optional(),
  device: z.string().min(1).optional(),
  reason: z.string().min(1).optional(),
  out: z.string().min(1).optional(),
  'since-checkpoint': z.string().min(1).optional(),
});
type CliOptions = z.infer<typeof optionsSchema>;

/** A refusal of the command line itself, with the message the operator sees. */
class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** True for a loopback host name or address. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

function required<K extends keyof CliOptions>(options: CliOptions, key: K): NonNullable<CliOptions[K]> {
  const value = options[key];
  if (value === undefined) throw new UsageError(`--${key} is required for this command`);
  return value as NonNullable<CliOptions[K]>;
}

function storageChoice(options: CliOptions) {
  return chooseStorage({ postgres: options.postgres, dataDir: options['data-dir'] });
}

async function openStorage(options: CliOptions): Promise<{ storage: SyncStorage; masterKey: Buffer }> {
  const choice = storageChoice(options);
  const masterKey = masterKeyFor(choice);
  const storage = await openChosenStorage(choice, masterKey, { now: () => Date.now() });
  return { storage, masterKey };
}

/** Commands that must not open the storage as the server does; undefined for the others. */
async function runOperationsCommand(command: string, options: CliOptions): Promise<unknown> {
  switch (command) {
    case 'db migrate':
      return migrateDatabase(
        required(options, 'postgres-owner'),
        required(options, 'app-role'),
        options['master-key-file'],
        Date.now(),
      );
    case 'backup':
      if (options['postgres-owner'] !== undefined) {
        return backupPostgresDatabase(options['postgres-owner'], required(options, 'out'), Date.now());
      }
      // The app role cannot read across clinics: a backup of PostgreSQL needs the owner's URL.
      if (options.postgres !== undefined) throw new UsageError('back up PostgreSQL with --postgres-owner URL');
      return backupDataDir(required(options, 'data-dir'), required(options, 'out'), Date.now());
    case 'restore':
      if (options['postgres-owner'] !== undefined) {
        // The app role's URL (--postgres or CHAIRSIDE_SYNC_PG_URL): the restore is checked as the server reads it.
        if (options.postgres === undefined && !process.env[PG_URL_ENV]) {
          throw new UsageError(`restoring PostgreSQL needs the app role's URL: --postgres URL or ${PG_URL_ENV}`);
        }
        const choice = chooseStorage({ postgres: options.postgres });
        if (choice.kind !== 'postgres') throw new UsageError('restoring PostgreSQL needs the app role: --postgres URL');
        const target = {
          ownerUrl: options['postgres-owner'],
          appRole: required(options, 'app-role'),
          appUrl: choice.url,
        };
        return restorePostgresDatabase(required(options, 'from'), target, masterKeyFor(choice), Date.now());
      }
      return restoreDataDir(
        required(options, 'from'),
        required(options, 'data-dir'),
        options['master-key-file'],
        Date.now(),
      );
    default:
      return undefined;
  }
}

async function runCommand(command: string, options: CliOptions): Promise<unknown> {
  const operation = await runOperationsCommand(command, options);
  if (operation !== undefined) return operation;
  const { storage, masterKey } = await openStorage(options);
  try {
    switch (command) {
      case 'clinic create': {
        const clinic = await storage.createClinic({ name: required(options, 'name') });
        const store = await storage.clinic(clinic.clinicId);
        const { code } = await store.createEnrollmentCode({ ttlMs: CLI_CODE_TTL_MS, createdBy: null });
        return { clinicId: clinic.clinicId, enrollmentCode: code };
      }
      case 'clinic list':
        return { clinics: await storage.listClinics() };
      case 'clinic code': {
        const store = await storage.clinic(required(options, 'clinic'));
        const { code, record } = await store.createEnrollmentCode({ ttlMs: CLI_CODE_TTL_MS, createdBy: null });
        return { clinicId: store.clinicId, enrollmentCode: code, expiresAt: record.expiresAt };
      }
      case 'device list': {
        const store = await storage.clinic(required(options, 'clinic'));
        const devices = await store.listDevices();
        // Each device's pulled cursor and when it last rose: a device that stopped syncing holds the
        // compaction horizon back (null: it never pulled) until it is revoked.
        const cursors = new Map((await store.listPulledCursors()).map((cursor) => [cursor.deviceId, cursor]));
        return {
          devices: devices.map((device) => ({
            ...device,
            publicKey: encodeBase64(device.publicKey),
            pulledAfter: cursors.get(device.deviceId)?.after ?? null,
            pulledAt: cursors.get(device.deviceId)?.updatedAt ?? null,
          })),
        };
      }
      case 'device revoke': {
        const store = await storage.clinic(required(options, 'clinic'));
        const device = await store.revokeDevice({
          deviceId: required(options, 'device'),
          reason: options.reason ?? 'revoked by the operator',
        });
        const choice = storageChoice(options);
        if (choice.kind === 'postgres') {
          // Every server process sharing the database ends the device's live streams now. Should the
          // announcement fail, the revocation still stands and each server's sweep (live-hub.ts) finds it.
          await announceRevocation({ connectionString: choice.url }, store.clinicId).catch(() => undefined);
        }
        return { deviceId: device.deviceId, revokedAt: device.revokedAt };
      }
      case 'changes compact': {
        // One transaction, below the horizon every device has pulled past: the server may keep running.
        const store = await storage.clinic(required(options, 'clinic'));
        return { clinicId: store.clinicId, ...(await store.compactChanges()) };
      }
      case 'audit export':
        return await exportClinicAuditLog({
          store: await storage.clinic(required(options, 'clinic')),
          keys: deriveServerKeys(masterKey),
          out: required(options, 'out'),
          now: () => Date.now(),
        });
      case 'audit verify': {
        const keys = deriveServerKeys(masterKey);
        const store = await storage.clinic(required(options, 'clinic'));
        const key = { keyName: keys.checkpointKeyName, publicKey: keys.checkpointPublicKey };
        const sinceFile = options['since-checkpoint'];
        return await verifyClinicAuditLog(
          store,
          key,
          nodeSha256,
          sinceFile === undefined ? {} : { sinceCheckpoint: readSavedCheckpoint(sinceFile) },
        );
      }
      default:
        throw new UsageError(`unknown command: ${command}`);
    }
  } finally {
    await storage.close();
  }
}

async function serve(options: CliOptions): Promise<void> {
  const host = options.host ?? '127.0.0.1';
  const certFile = options['tls-cert'];
  const keyFile = options['tls-key'];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const tls = certFile !== undefined && keyFile !== undefined;
  if (!tls && !isLoopbackHost(host) && options['insecure-http'] !== true) {
    throw new UsageError(
      `refusing plain HTTP on ${host}: give --tls-cert and --tls-key, or --insecure-http behind a TLS proxy`,
    );
  }
  const redirectPort = options['redirect-http'];
  if (redirectPort !== undefined && !tls) throw new UsageError('--redirect-http needs --tls-cert and --tls-key');
  const trustedProxies = options['trusted-proxy'] ?? trustedProxiesFromEnv();
  const choice = storageChoice(options);
  const { storage, masterKey } = await openStorage(options);
  // Never pino's default stdout destination: its exit-time flush can retry a dead pipe forever.
  const logOutput = nonBlockingLogDestination();
  const logger = pino(
    { level: process.env.CHAIRSIDE_LOG_LEVEL ?? 'info', base: { service: 'sync-server' } },
    logOutput,
  );
  // On PostgreSQL every process counts brute-force attempts in one shared table.
  const limitsPool = choice.kind === 'postgres' ? rateLimitPool(choice) : null;
  // Live streams hear about changes committed by every process through LISTEN/NOTIFY.
  const notifier =
    choice.kind === 'postgres'
      ? new PostgresChangeNotifier({ connection: { connectionString: choice.url }, log: logger })
      : null;
  await notifier?.start();
  const app = createSyncServer({
    storage,
    serverKeys: deriveServerKeys(masterKey),
    clock: { now: () => Date.now() },
    logger,
    ...(limitsPool
      ? { rateLimitStore: { kind: 'postgres', pool: limitsPool, schemaName: AUTH_SCHEMA, tableName: RATE_LIMIT_TABLE } }
      : {}),
    ...(tls ? { tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } } : {}),
    ...(notifier ? { notifier } : {}),
    ...(trustedProxies.length > 0 ? { trustedProxies } : {}),
  });
  let redirect: ReturnType<typeof createHttpsRedirectServer> | null = null;
  const everyHours = options['compact-every-hours'];
  const compaction =
    everyHours === undefined
      ? null
      : scheduleCompaction({
          storage,
          everyMs: Math.round(everyHours * 3_600_000),
          // Counts and the clinic id only.
          report: (outcome) =>
            outcome.ok
              ? logger.info({ event: 'changes.compacted', ...outcome }, 'change log compacted')
              : logger.warn({ event: 'changes.compaction_failed', ...outcome }, 'change log compaction failed'),
        });
  let closing = false;
  const exitAfterLogs = (code: number) => void logOutput.flush(LOG_FLUSH_DEADLINE_MS).then(() => process.exit(code));
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ event: 'shutdown', signal }, 'closing');
    // Whatever a closing step waits on, the process ends: an unfinished step is rolled back by its
    // storage (each write is one transaction), which is better than a server that never exits.
    setTimeout(() => {
      logger.error({ event: 'shutdown.deadline', ms: SHUTDOWN_DEADLINE_MS }, 'shutdown took too long');
      exitAfterLogs(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    // Fastify waits for requests in flight, so every acknowledged write is committed first.
    redirect?.close();
    // A compaction in progress commits before the storage closes.
    void (compaction?.stop() ?? Promise.resolve())
      .then(() => app.close())
      .then(() => notifier?.close())
      .then(() => storage.close())
      .then(() => limitsPool?.end())
      .then(
        () => exitAfterLogs(0),
        (error: unknown) => {
          logger.error({ event: 'shutdown.failed', error: (error as Error).name }, 'shutdown failed');
          exitAfterLogs(1);
        },
      );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  await app.listen({ host, port: options.port ?? 8443 });
  const address = app.server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // The proxies named, so an operator can see whose X-Forwarded-For the limits believe.
  logger.info({ event: 'listening', url, trustedProxies }, 'sync server listening');
  if (redirectPort !== undefined && typeof port === 'number') {
    const listener = createHttpsRedirectServer({ httpsPort: port, fallbackHost: host });
    redirect = listener;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(redirectPort, host, () => resolve());
    });
    const redirectAddress = listener.address();
    const boundPort = redirectAddress !== null && typeof redirectAddress === 'object' ? redirectAddress.port : 0;
    const from = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
    logger.info({ event: 'redirecting', from, to: url }, 'plain HTTP redirects to HTTPS');
  }
}

/** The note of a checkpoint file saved outside the server (audit-export/saved-checkpoint.ts). */
function readSavedCheckpoint(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`--since-checkpoint: cannot read ${file}`);
  }
  return savedCheckpointNote(text);
}

/** CHAIRSIDE_SYNC_TRUSTED_PROXIES, when --trusted-proxy is not given; empty when neither is. */
function trustedProxiesFromEnv(): string[] {
  const parsed = trustedProxyListSchema.safeParse(process.env[TRUSTED_PROXIES_ENV] ?? '');
  if (!parsed.success) throw new UsageError(`${TRUSTED_PROXIES_ENV} must list IP addresses or CIDR ranges`);
  return parsed.data;
}

function isFailedVerdict(output: unknown): boolean {
  return typeof output === 'object' && output !== null && 'ok' in output && output.ok === false;
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  // Files the storage creates (databases, WAL, the key) are for this user alone.
  process.umask(0o077);
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'data-dir': { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'insecure-http': { type: 'boolean' },
        name: { type: 'string' },
        clinic: { type: 'string' },
        device: { type: 'string' },
        reason: { type: 'string' },
        out: { type: 'string' },
        postgres: { type: 'string' },
        'postgres-owner': { type: 'string' },
        'app-role': { type: 'string' },
        from: { type: 'string' },
        'master-key-file': { type: 'string' },
        'redirect-http': { type: 'string' },
        'compact-every-hours': { type: 'string' },
        'trusted-proxy': { type: 'string' },
        'since-checkpoint': { type: 'string' },
      },
    });
    const result = optionsSchema.safeParse(parsed.values);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new UsageError(`--${String(issue?.path[0] ?? 'data-dir')} is missing or not valid`);
    }
    if (parsed.positionals.length === 0) {
      await serve(result.data);
      return -1;
    }
    const output = await runCommand(parsed.positionals.join(' '), result.data);
    process.stdout.write(`${JSON.stringify(output)}\n`);
    // A verdict that failed (audit verify) is still one line on stdout, with a failing exit code.
    return isFailedVerdict(output) ? 1 : 0;
  } catch (error) {
    if (error instanceof BackupError || error instanceof MasterKeyError) {
      const code = error instanceof BackupError ? 'backup_refused' : 'master_key';
      process.stderr.write(`${JSON.stringify({ error: { code, message: error.message } })}\n`);
      return 1;
    }
    const known =
      error instanceof UsageError ||
      error instanceof StorageChoiceError ||
      error instanceof SyncStorageError ||
      error instanceof TypeError;
    const code = error instanceof SyncStorageError ? error.code : known ? 'usage' : 'internal';
    const message = known || error instanceof Error ? (error as Error).message : 'failed';
    process.stderr.write(`${JSON.stringify({ error: { code, message } })}\n`);
    return known ? 2 : 1;
  }
}

const exitCode = await main(process.argv.slice(2));
// -1: the server runs until a signal closes it.
if (exitCode >= 0) process.exit(exitCode);
