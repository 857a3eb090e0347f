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
import { deriveServerKeys } from '../auth/server-keys.js';
import { createSyncServer } from '../server.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import { type SyncStorage, SyncStorageError } from '../storage/storage.js';
import { loadOrCreateMasterKey } from './master-key.js';

/** Enrollment codes made by the CLI stay valid this long. */
const CLI_CODE_TTL_MS = 24 * 60 * 60_000;

const optionsSchema = z.strictObject({
  'data-dir': z.string().min(1),
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

async function openStorage(options: CliOptions): Promise<{ storage: SyncStorage; masterKey: Buffer }> {
  const dataDir = options['data-dir'];
  const masterKey = loadOrCreateMasterKey(dataDir);
  const storage = await openSqliteSyncStorage({
    dataDir,
    keys: masterKeySource(masterKey),
    clock: { now: () => Date.now() },
  });
  return { storage, masterKey };
}

async function runCommand(command: string, options: CliOptions): Promise<unknown> {
  const { storage } = await openStorage(options);
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
        return { devices: devices.map((device) => ({ ...device, publicKey: encodeBase64(device.publicKey) })) };
      }
      case 'device revoke': {
        const store = await storage.clinic(required(options, 'clinic'));
        const device = await store.revokeDevice({
          deviceId: required(options, 'device'),
          reason: options.reason ?? 'revoked by the operator',
        });
        return { deviceId: device.deviceId, revokedAt: device.revokedAt };
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
  const { storage, masterKey } = await openStorage(options);
  const logger = pino({ level: process.env.CHAIRSIDE_LOG_LEVEL ?? 'info', base: { service: 'sync-server' } });
  const app = createSyncServer({
    storage,
    serverKeys: deriveServerKeys(masterKey),
    clock: { now: () => Date.now() },
    logger,
    ...(tls ? { tls: { cert: readFileSync(certFile), key: readFileSync(keyFile) } } : {}),
  });
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ event: 'shutdown', signal }, 'closing');
    // Fastify waits for requests in flight, so every acknowledged write is committed first.
    void app
      .close()
      .then(() => storage.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ event: 'shutdown.failed', error: (error as Error).name }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  await app.listen({ host, port: options.port ?? 8443 });
  const address = app.server.address();
  const port = address !== null && typeof address === 'object' ? address.port : options.port;
  const url = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ event: 'listening', url }, 'sync server listening');
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
    return 0;
  } catch (error) {
    const known = error instanceof UsageError || error instanceof SyncStorageError || error instanceof TypeError;
    const code = error instanceof SyncStorageError ? error.code : known ? 'usage' : 'internal';
    const message = known || error instanceof Error ? (error as Error).message : 'failed';
    process.stderr.write(`${JSON.stringify({ error: { code, message } })}\n`);
    return known ? 2 : 1;
  }
}

const exitCode = await main(process.argv.slice(2));
// -1: the server runs until a signal closes it.
if (exitCode >= 0) process.exit(exitCode);
