/**
 * Support for the sync benchmarks (sync-throughput.ts, sync-initial.ts): a real sync server
 * listening on 127.0.0.1 over either storage (an encrypted SQLite file per clinic, or a throwaway
 * PostgreSQL database reached through a non-superuser app role bound by row-level security),
 * devices enrolled over HTTP with their own Ed25519 keys and tokens (the device's own client code,
 * main/core/sync/sync-http.ts), and changes built with the shared change schema by users the
 * server's directory knows, so the server's re-validation accepts them as it would a real push.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import pino from 'pino';
import type { Role } from '../../shared/permissions.js';
import {
  type ChangeRecord,
  type EntityName,
  REPLICATED_ENTITIES,
  changeRecordSchema,
} from '../../shared/sync/change.js';
import { type Hlc, encodeHlc, initialHlc, tick } from '../../shared/sync/hlc.js';
import { type IdSource, seededRandom, systemClock, ulidSource } from '../../main/core/platform/sources.js';
import { MINIMUM_USER_KEY_SCRYPT, UserKeys, type UserSigner, signBatch } from '../../main/core/auth/user-keys.js';
import {
  type FetchLike,
  DEVICE_PROTOCOL_VERSION,
  enrollDevice,
  generateDeviceKeys,
  callSyncRoute,
  requestToken,
} from '../../main/core/sync/sync-http.js';
import { changesPush } from '../../shared/sync/wire/changes.js';
import { DEFAULT_RATE_LIMITS, type RateLimitSettings } from '../../sync-server/auth/rate-limits.js';
import { deriveServerKeys } from '../../sync-server/auth/server-keys.js';
import { createSyncServer } from '../../sync-server/server.js';
import { openPostgresSyncStorage } from '../../sync-server/storage/postgres/postgres-storage.js';
import { type TestDatabase, createTestDatabase } from '../support/sync-server/test-database.js';
import { masterKeySource } from '../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../sync-server/storage/sqlite/sqlite-storage.js';
import type { ClinicStore, SyncStorage } from '../../sync-server/storage/storage.js';
import type { SyntheticPatient } from '../../main/demo/synthetic-patients.js';

/** The two storages every sync figure is measured on. */
export const BENCH_STORAGES = ['SQLite', 'PostgreSQL'] as const;
/** One of them. */
export type BenchStorageKind = (typeof BENCH_STORAGES)[number];

/**
 * The benchmark's devices all connect from 127.0.0.1, so the per-address budgets of enrollment and
 * token requests are raised out of the way: the bench measures replication, not the limiter.
 */
const BENCH_RATE_LIMITS: RateLimitSettings = {
  attemptsPerAddress: { ...DEFAULT_RATE_LIMITS.attemptsPerAddress, points: 1_000_000 },
  failuresPerAddress: { ...DEFAULT_RATE_LIMITS.failuresPerAddress, points: 1_000_000 },
  failuresPerAddressLong: { ...DEFAULT_RATE_LIMITS.failuresPerAddressLong, points: 1_000_000 },
  failuresPerDevice: { ...DEFAULT_RATE_LIMITS.failuresPerDevice, points: 1_000_000 },
};

/** A storage opened for the bench, with what removes it afterwards. */
interface BenchStorage {
  readonly storage: SyncStorage;
  /** Finishes the upkeep a bulk seed leaves behind (see BenchServer.settle). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

async function openBenchStorage(kind: BenchStorageKind): Promise<BenchStorage> {
  if (kind === 'SQLite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'chairside-bench-sync-'));
    // The production default cache (16 MiB per clinic file).
    const storage = await openSqliteSyncStorage({
      dataDir,
      keys: masterKeySource(randomBytes(32)),
      clock: systemClock,
    });
    return {
      storage,
      // Nothing runs in the background of an embedded storage.
      settle: async () => undefined,
      async close() {
        await storage.close();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const database: TestDatabase = await createTestDatabase();
  try {
    // One pool per server process; 10 connections serve 20 devices (PostgreSQL on the same 2 cores).
    const storage = await openPostgresSyncStorage({
      connection: { ...database.app, max: 10 },
      clock: systemClock,
      masterKey: database.masterKey,
    });
    return {
      storage,
      async settle() {
        // What autovacuum would do within a minute of the seed, done now rather than during the
        // timed part, where it took CPU from the server and the device (the clinic's data would
        // have been on the server long before a new device joins).
        const client = new pg.Client(database.superuser);
        await client.connect();
        try {
          await client.query('VACUUM ANALYZE');
        } finally {
          await client.end();
        }
      },
      async close() {
        await storage.close();
        await database.drop();
      },
    };
  } catch (error) {
    await database.drop();
    throw error;
  }
}

/** A sync server listening on a loopback port over one storage, with one clinic. */
export interface BenchServer {
  readonly kind: BenchStorageKind;
  readonly url: string;
  readonly storage: SyncStorage;
  readonly clinicId: string;
  /**
   * After a bulk seed, before a timed part: finishes the storage's upkeep of the seed
   * (PostgreSQL: VACUUM ANALYZE, which autovacuum would otherwise run during the measurement).
   */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the server as `npm run server` would: the real Fastify app with its logs at `info` (one
 * JSON line per request, written to a sink here so the terminal stays readable) and the system clock.
 */
export async function startBenchServer(kind: BenchStorageKind): Promise<BenchServer> {
  const opened = await openBenchStorage(kind);
  let app: FastifyInstance | undefined;
  try {
    const logger = pino({ level: 'info' }, { write: () => undefined });
    app = createSyncServer({
      storage: opened.storage,
      serverKeys: deriveServerKeys(randomBytes(32)),
      clock: systemClock,
      logger,
      rateLimits: BENCH_RATE_LIMITS,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as AddressInfo).port;
    const clinic = await opened.storage.createClinic({ name: 'Bench Dental' });
    const listening = app;
    return {
      kind,
      url: `http://127.0.0.1:${port}`,
      storage: opened.storage,
      clinicId: clinic.clinicId,
      settle: () => opened.settle(),
      async close() {
        await listening.close();
        await opened.close();
      },
    };
  } catch (error) {
    await app?.close();
    await opened.close();
    throw error;
  }
}

/** A one-time enrollment code for the server's clinic, as `clinic code` prints it. */
export async function operatorEnrollmentCode(server: BenchServer): Promise<string> {
  const store = await server.storage.clinic(server.clinicId);
  return (await store.createEnrollmentCode({ ttlMs: 60 * 60_000, createdBy: null })).code;
}

/** ULIDs from the system clock and a seeded random source (distinct per seed). */
export function benchIds(seed: string): IdSource {
  return ulidSource(systemClock, seededRandom(seed));
}

/** The clinic's users as the server's directory holds them. */
export interface BenchUsers {
  readonly adminId: string;
  readonly dentistId: string;
  readonly receptionistId: string;
  /** Each user's opened signing key, when the users have keys (their batches are then signed). */
  readonly signers: ReadonlyMap<string, UserSigner> | null;
}

/**
 * Makes three users known to the server's directory (as their accepted `user` changes would),
 * with signing keys when `signed` (the server then requires their signatures), else as users
 * made before keys.
 */
export async function registerBenchUsers(server: BenchServer, ids: IdSource, signed = false): Promise<BenchUsers> {
  const ids3 = { adminId: ids.next(), dentistId: ids.next(), receptionistId: ids.next() };
  const signers = signed ? new Map<string, UserSigner>() : null;
  if (signers) {
    const keys = new UserKeys({ bytes: (length) => randomBytes(length) }, MINIMUM_USER_KEY_SCRYPT);
    for (const userId of Object.values(ids3)) signers.set(userId, (await keys.issue('bench password')).signer);
  }
  const users = { ...ids3, signers };
  const roles: Array<[string, Role]> = [
    [users.adminId, 'Admin'],
    [users.dentistId, 'Dentist'],
    [users.receptionistId, 'Receptionist'],
  ];
  const store = await server.storage.clinic(server.clinicId);
  await store.updateUserDirectory(
    roles.map(([userId, role]) => ({
      userId,
      role,
      roleHlc: encodeHlc({ wallMs: 1, counter: 0, deviceId: 'operator' }),
      ...(signers
        ? {
            signingKey: {
              value: signers.get(userId)!.publicKey,
              hlc: encodeHlc({ wallMs: 1, counter: 0, deviceId: 'operator' }),
            },
          }
        : {}),
    })),
  );
  return users;
}

/** A field value of a change. */
type FieldValue = ChangeRecord['fields'][string];

/** Builds one device's changes: ULID ids, a monotonic HLC stamped with the device id, shared-schema checked. */
export class ChangeFactory {
  private clock: Hlc;

  constructor(
    readonly deviceId: string,
    private readonly ids: IdSource,
  ) {
    this.clock = initialHlc(deviceId);
  }

  /** A new local transaction id. */
  transaction(): string {
    return this.ids.next();
  }

  /** A new row id. */
  rowId(): string {
    return this.ids.next();
  }

  /** One change, as change capture records it; throws when the shared schema refuses it. */
  change(
    txId: string,
    userId: string,
    entity: EntityName,
    rowId: string,
    op: ChangeRecord['op'],
    fields: Record<string, FieldValue>,
  ): ChangeRecord {
    this.clock = tick(this.clock, systemClock.now());
    return changeRecordSchema.parse({
      changeId: this.ids.next(),
      txId,
      deviceId: this.deviceId,
      userId,
      entity,
      rowId,
      op,
      fields,
      hlc: encodeHlc(this.clock),
      schemaVersion: 1,
    });
  }
}

/** What a synthetic patient contributes to a patient insert. */
export interface PatientFields {
  readonly patientNumber: string;
  readonly firstName: string;
  readonly lastName: string;
  readonly dateOfBirth: string | null;
  readonly sex: 'female' | 'male' | 'other' | 'unknown';
  readonly phone: string | null;
  readonly email: string | null;
}

/**
 * The insert of a patient row with every replicated field (what patients.create records). Fields
 * the entity declares beyond these (added by later slices) are null, as on a new row.
 */
export function patientInsertFields(
  patient: PatientFields,
  branchId: string,
  createdBy: string,
  createdAt: number,
): Record<string, FieldValue> {
  const known: Record<string, FieldValue> = {
    patient_number: patient.patientNumber,
    branch_id: branchId,
    first_name: patient.firstName,
    last_name: patient.lastName,
    date_of_birth: patient.dateOfBirth,
    sex: patient.sex,
    phone: patient.phone,
    email: patient.email,
    created_at: createdAt,
    created_by: createdBy,
  };
  return Object.fromEntries(REPLICATED_ENTITIES.patient.fields.map((field) => [field, known[field] ?? null]));
}

/** A patient number in a device's own numbering space (device 1 `P000123`, device n `Pn-000123`). */
export function devicePatientNumber(deviceNumber: number, n: number): string {
  const digits = String(n).padStart(6, '0');
  return deviceNumber === 1 ? `P${digits}` : `P${deviceNumber}-${digits}`;
}

/** A medical history as its three JSON-text fields (what patients.updateMedicalHistory records). */
export function medicalFields(
  medical: { allergies: unknown[]; conditions: unknown[]; medications: unknown[] } | null,
): Record<string, FieldValue> {
  return {
    allergies: JSON.stringify(medical?.allergies ?? []),
    conditions: JSON.stringify(medical?.conditions ?? []),
    medications: JSON.stringify(medical?.medications ?? []),
  };
}

/** A device enrolled over HTTP: its id, key, token and change factory. */
export interface BenchDevice {
  readonly deviceId: string;
  /** Its number in the clinic (order of enrollment), which names its patient-number space. */
  readonly deviceNumber: number;
  readonly token: string;
  readonly changes: ChangeFactory;
}

/** Node's fetch, as the device engine uses it. */
export const benchFetch: FetchLike = (url, init) => fetch(url, init);

/** Enrolls a new device with a fresh operator code, then signs a challenge for a token (all over HTTP). */
export async function enrollBenchDevice(server: BenchServer, ids: IdSource, name: string): Promise<BenchDevice> {
  const deviceId = ids.next();
  const keys = generateDeviceKeys();
  const code = await operatorEnrollmentCode(server);
  const enrolled = await enrollDevice(benchFetch, server.url, {
    code,
    deviceId,
    deviceName: name,
    publicKey: keys.publicKey,
  });
  const { token } = await requestToken(benchFetch, server.url, {
    clinicId: enrolled.clinicId,
    deviceId,
    privateKey: keys.privateKey,
  });
  const stored = await (await server.storage.clinic(server.clinicId)).getDevice(deviceId);
  if (!stored) throw new Error('the enrolled device is not stored');
  return { deviceId, deviceNumber: stored.deviceNumber, token, changes: new ChangeFactory(deviceId, ids) };
}

/** One pushed local transaction. */
export interface PushBatch {
  readonly txId: string;
  readonly changes: readonly ChangeRecord[];
  readonly signature?: string;
  readonly signedBy?: string;
}

/** A transaction signed by its author as the device signs it, when the users have keys. */
export function signedBatch(users: BenchUsers, batch: PushBatch): PushBatch {
  const author = batch.changes[0]?.userId;
  const signer = author === undefined ? undefined : users.signers?.get(author);
  return signer ? { ...batch, signature: signBatch(signer, batch.txId, batch.changes), signedBy: author } : batch;
}

/** Pushes batches in one `POST /v1/changes`; returns the number of changes the server accepted. */
export async function pushBatches(server: BenchServer, device: BenchDevice, batches: readonly PushBatch[]) {
  const answer = await callSyncRoute(
    benchFetch,
    server.url,
    changesPush,
    {
      body: {
        protocolVersion: DEVICE_PROTOCOL_VERSION,
        batches: batches.map((batch) => ({ ...batch, changes: [...batch.changes] })),
      },
    },
    { token: device.token, timeoutMs: 120_000 },
  );
  let accepted = 0;
  for (const batch of answer.batches) {
    // A bench whose pushes are quarantined would measure refusals: fail loudly instead.
    if (batch.status !== 'accepted') throw new Error(`a bench batch was ${batch.status}, not accepted`);
    accepted += batch.changes.length;
  }
  return accepted;
}

/** A positive integer from the environment, or the default. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

/** The storages to run from CHAIRSIDE_BENCH_SYNC_STORAGES (comma-separated), both by default. */
export function benchStorages(): readonly BenchStorageKind[] {
  const raw = process.env.CHAIRSIDE_BENCH_SYNC_STORAGES;
  if (!raw) return BENCH_STORAGES;
  const chosen = raw.split(',').map((part) => part.trim().toLowerCase());
  for (const name of chosen) {
    if (!BENCH_STORAGES.some((kind) => kind.toLowerCase() === name)) {
      throw new Error(`CHAIRSIDE_BENCH_SYNC_STORAGES: unknown storage "${name}"`);
    }
  }
  return BENCH_STORAGES.filter((kind) => chosen.includes(kind.toLowerCase()));
}

/** The parts of the sync benchmarks. */
export type SyncBenchPart = 'throughput' | 'initial' | 'compaction';

/**
 * Whether a part runs. CHAIRSIDE_BENCH_SYNC lists the parts (`throughput,initial`, or `none`);
 * unset, both run, except under `npm run bench` with BENCH_ONLY naming other sections, so a quick
 * run of one section stays quick.
 */
export function syncBenchEnabled(part: SyncBenchPart, standalone: boolean): boolean {
  const raw = process.env.CHAIRSIDE_BENCH_SYNC;
  if (raw === undefined || raw === '') return standalone || !process.env.BENCH_ONLY;
  const chosen = raw.split(',').map((name) => name.trim());
  for (const name of chosen) {
    if (!['throughput', 'initial', 'compaction', 'none'].includes(name))
      throw new Error(`CHAIRSIDE_BENCH_SYNC: unknown part "${name}"`);
  }
  return chosen.includes(part);
}

/**
 * What else the machine was doing: the 1-minute load average and this process's CPU time over a
 * span, so figures taken while other work shared the 2 cores can be read for what they are.
 */
export function machineNote(cpuStart: NodeJS.CpuUsage): string {
  const cpu = process.cpuUsage(cpuStart);
  return `process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s, load ${loadavg()[0]!.toFixed(1)}`;
}

/** Changes per stored transaction when a bench seeds a log (the server's per-batch limit). */
const SEED_BATCH = 1000;

/**
 * Appends one device's changes through the storage in transactions of SEED_BATCH, as a founding
 * PC's upload would store them (each stored batch takes its first change's transaction id).
 */
export async function appendInBatches(
  store: ClinicStore,
  deviceId: string,
  changes: readonly ChangeRecord[],
): Promise<void> {
  for (let start = 0; start < changes.length; start += SEED_BATCH) {
    const slice = changes.slice(start, start + SEED_BATCH);
    const txId = slice[0]!.txId;
    await store.appendChanges({ deviceId, txId, changes: slice.map((change) => ({ ...change, txId })) });
  }
}

/**
 * A patient registered with a medical history, as one local transaction of `userId`: the
 * patient insert and the history insert (what a Dentist's registration records).
 */
export function registrationChanges(
  factory: ChangeFactory,
  userId: string,
  patient: SyntheticPatient,
  branchId: string,
  now: number,
): ChangeRecord[] {
  const txId = factory.transaction();
  return [
    factory.change(txId, userId, 'patient', patient.id, 'insert', patientInsertFields(patient, branchId, userId, now)),
    factory.change(txId, userId, 'patient_medical', patient.id, 'insert', medicalFields(patient.medical)),
  ];
}
