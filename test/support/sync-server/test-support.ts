/**
 * Factories for the HTTP tests: a server over each storage (SQLite in a temporary directory,
 * PostgreSQL in a throwaway database), its log lines captured, and a device that enrolls,
 * signs challenges and pushes its audit chain the way a real device does. Test support only.
 */
import { type KeyObject, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import { encodeBase64 } from '../../../shared/merkle/base64.js';
import { DEFAULT_RATE_LIMITS, type RateLimitSettings } from '../../../sync-server/auth/rate-limits.js';
import { type ServerKeys, deriveServerKeys } from '../../../sync-server/auth/server-keys.js';
import { deviceAuthMessage } from '../../../sync-server/auth/tokens.js';
import { type SyncServerOptions, createSyncServer } from '../../../sync-server/server.js';
import { completeInsertFields } from '../complete-fields.js';
import { AuditChainBuilder, TestClock } from './conformance-fixtures.js';
import { type TestDatabase, createTestDatabase } from './test-database.js';
import { dataDirText, postgresStoredText } from './stored-bytes.js';
import { openPostgresSyncStorage } from '../../../sync-server/storage/postgres/postgres-storage.js';
import { masterKeySource } from '../../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../../sync-server/storage/sqlite/sqlite-storage.js';
import type { AuditEntryInput, ChangeInput, SyncStorage } from '../../../sync-server/storage/storage.js';
import { encodeHlc } from '../../../shared/sync/hlc.js';
import { auditHeadMessage } from '../../../sync-server/http/audit-routes.js';
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from '../../../sync-server/http/protocol.js';

/** Budgets no test reaches unless it means to. */
export const GENEROUS_RATE_LIMITS: RateLimitSettings = {
  attemptsPerAddress: { ...DEFAULT_RATE_LIMITS.attemptsPerAddress, points: 10_000 },
  failuresPerAddress: { ...DEFAULT_RATE_LIMITS.failuresPerAddress, points: 10_000 },
  failuresPerAddressLong: { ...DEFAULT_RATE_LIMITS.failuresPerAddressLong, points: 10_000 },
  failuresPerDevice: { ...DEFAULT_RATE_LIMITS.failuresPerDevice, points: 10_000 },
};

/** A server over a storage, with its clock, keys and every log line it wrote. */
export interface TestServer {
  readonly app: FastifyInstance;
  readonly storage: SyncStorage;
  readonly clock: TestClock;
  readonly keys: ServerKeys;
  readonly logs: string[];
  /** Sends a request with the protocol header (unless given) and returns the response. */
  call(
    method: 'GET' | 'POST',
    url: string,
    options?: { body?: unknown; token?: string; headers?: Record<string, string> },
  ): Promise<LightMyRequestResponse>;
}

/** Options of a test server. */
export interface TestServerOptions {
  readonly rateLimits?: RateLimitSettings;
  readonly protocolVersion?: number;
  readonly bodyLimit?: number;
  /** Wraps the storage the app sees (the test keeps the real one), to delay or observe calls. */
  readonly wrapStorage?: (storage: SyncStorage) => SyncStorage;
  readonly maxClockAheadMs?: number;
  /** The server's keys; a restarted server keeps its keys (they derive from its master key). */
  readonly serverKeys?: ServerKeys;
  /** Live stream timings and notifier (live/); the server's defaults otherwise. */
  readonly liveTimings?: SyncServerOptions['liveTimings'];
  readonly notifier?: SyncServerOptions['notifier'];
}

/** Builds a server over an open storage. */
export async function startTestServer(
  storage: SyncStorage,
  clock: TestClock,
  options: TestServerOptions = {},
): Promise<TestServer> {
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const keys = options.serverKeys ?? deriveServerKeys(randomBytes(32));
  const app = createSyncServer({
    storage: options.wrapStorage?.(storage) ?? storage,
    serverKeys: keys,
    clock,
    logger,
    rateLimits: options.rateLimits ?? GENEROUS_RATE_LIMITS,
    ...(options.protocolVersion === undefined ? {} : { protocolVersion: options.protocolVersion }),
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    ...(options.maxClockAheadMs === undefined ? {} : { maxClockAheadMs: options.maxClockAheadMs }),
    ...(options.liveTimings === undefined ? {} : { liveTimings: options.liveTimings }),
    ...(options.notifier === undefined ? {} : { notifier: options.notifier }),
  });
  await app.ready();
  return {
    app,
    storage,
    clock,
    keys,
    logs,
    call(method, url, { body, token, headers } = {}) {
      return app.inject({
        method,
        url,
        headers: {
          [PROTOCOL_HEADER]: String(options.protocolVersion ?? SYNC_PROTOCOL_VERSION),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...headers,
        },
        ...(body === undefined ? {} : { payload: body as object }),
      });
    },
  };
}

/** A storage kind the HTTP suites run against. */
export type StorageKind = 'SQLite' | 'PostgreSQL';

/** A test server over a storage whose backing store the test can read as an attacker would. */
export interface StoredTestServer extends TestServer {
  /**
   * Everything the storage's backing store holds, as read without the master key
   * (stored-bytes.ts): the data directory's bytes, or every PostgreSQL column and its pg_dump.
   */
  rawStoredText(): Promise<string>;
}

/**
 * Defines a suite once per storage. `setup` opens a fresh storage and server for one test;
 * everything it opened is closed after the test.
 */
export function describeEachStorage(
  title: string,
  define: (setup: (options?: TestServerOptions) => Promise<StoredTestServer>, kind: StorageKind) => void,
): void {
  for (const kind of ['SQLite', 'PostgreSQL'] as const) {
    describe(`${title} (${kind})`, () => {
      let db: TestDatabase | undefined;
      if (kind === 'PostgreSQL') {
        beforeAll(async () => {
          db = await createTestDatabase();
        });
        afterAll(async () => {
          await db?.drop();
        });
      }
      const cleanup: Array<() => Promise<void> | void> = [];
      afterEach(async () => {
        for (const step of cleanup.splice(0).reverse()) await step();
      });
      define(async (options) => {
        const clock = new TestClock();
        let storage: SyncStorage;
        let rawStoredText: () => Promise<string>;
        if (kind === 'SQLite') {
          const dataDir = mkdtempSync(join(tmpdir(), 'chairside-sync-http-'));
          cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
          storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock });
          rawStoredText = async () => dataDirText(dataDir);
        } else {
          rawStoredText = () => postgresStoredText(db!);
          storage = await openPostgresSyncStorage({ connection: db!.app, clock, masterKey: db!.masterKey });
        }
        cleanup.push(() => storage.close());
        const server = await startTestServer(storage, clock, options);
        cleanup.push(() => server.app.close());
        return { ...server, rawStoredText };
      }, kind);
    });
  }
}

/** A clinic made in storage with a fresh enrollment code. */
export async function seedClinic(server: TestServer, name: string): Promise<{ clinicId: string; code: string }> {
  const clinic = await server.storage.createClinic({ name });
  const store = await server.storage.clinic(clinic.clinicId);
  const { code } = await store.createEnrollmentCode({ ttlMs: 60 * 60_000, createdBy: 'admin-1' });
  return { clinicId: clinic.clinicId, code };
}

/** A device as the app runs it: its own Ed25519 key, its audit chain, its tokens. */
export class TestDevice {
  readonly chain: AuditChainBuilder;
  private readonly privateKey: KeyObject;
  readonly publicKey: Uint8Array;
  clinicId = '';

  constructor(
    readonly server: TestServer,
    readonly deviceId: string,
  ) {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    this.publicKey = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
    this.chain = new AuditChainBuilder(deviceId, 1, server.clock.now());
  }

  /** Redeems a code over HTTP; returns the response. */
  enroll(code: string, deviceName = `Laptop ${this.deviceId}`): Promise<LightMyRequestResponse> {
    return this.server
      .call('POST', '/v1/enroll', {
        body: { code, deviceId: this.deviceId, deviceName, publicKey: encodeBase64(this.publicKey) },
      })
      .then((response) => {
        if (response.statusCode === 200) this.clinicId = (response.json() as { clinicId: string }).clinicId;
        return response;
      });
  }

  /** Signs bytes with the device key. */
  sign(message: Uint8Array): string {
    return encodeBase64(new Uint8Array(sign(null, message, this.privateKey)));
  }

  /** A fresh challenge for this device (or another clinic and device). */
  async challenge(clinicId = this.clinicId, deviceId = this.deviceId): Promise<string> {
    const response = await this.server.call('POST', '/v1/auth/challenge', { body: { clinicId, deviceId } });
    return (response.json() as { challenge: string }).challenge;
  }

  /** Asks for a token answering `challenge`; returns the response. */
  requestToken(challenge: string, clinicId = this.clinicId, deviceId = this.deviceId): Promise<LightMyRequestResponse> {
    return this.server.call('POST', '/v1/auth/token', {
      body: { clinicId, deviceId, challenge, signature: this.sign(deviceAuthMessage(challenge)) },
    });
  }

  /** A valid access token. */
  async token(): Promise<string> {
    const response = await this.requestToken(await this.challenge());
    if (response.statusCode !== 200) throw new Error(`token refused: ${response.body}`);
    return (response.json() as { token: string }).token;
  }

  /** The body of an audit push of these entries, with the head signed. */
  /**
   * What a working device sends in a while: one push of a batch of `changes` and one audit push of
   * the next 3 entries of its chain. Throws unless the server accepts both.
   */
  async pushChangesAndAudit(token: string, changes: number): Promise<void> {
    const pushed = await this.server.call('POST', '/v1/changes', {
      token,
      body: { protocolVersion: 1, batches: [validBatch(this.deviceId, changes)] },
    });
    if (pushed.statusCode !== 200) throw new Error(`the push was answered ${pushed.statusCode}: ${pushed.body}`);
    const audited = await this.server.call('POST', '/v1/audit', { token, body: this.auditPush(this.chain.next(3)) });
    if (audited.statusCode !== 200)
      throw new Error(`the audit push was answered ${audited.statusCode}: ${audited.body}`);
  }

  auditPush(entries: AuditEntryInput[], epoch = 1): Record<string, unknown> {
    const last = entries[entries.length - 1]!;
    return {
      deviceId: this.deviceId,
      epoch,
      entries,
      signature: this.sign(auditHeadMessage(this.deviceId, epoch, last.seq, last.hash)),
    };
  }
}

/** Enrolls a new device into a new clinic and returns it with a token. */
export async function enrolledDevice(
  server: TestServer,
  clinicName: string,
  deviceId: string,
): Promise<{ device: TestDevice; token: string; clinicId: string }> {
  const { clinicId, code } = await seedClinic(server, clinicName);
  const device = new TestDevice(server, deviceId);
  const response = await device.enroll(code);
  if (response.statusCode !== 200) throw new Error(`enrollment failed: ${response.body}`);
  return { device, token: await device.token(), clinicId };
}

/** A storage whose clinic handles run `beforeAppend` before each appendChanges (to hold a write in flight). */
export function storageWithAppendHook(storage: SyncStorage, beforeAppend: () => Promise<void>): SyncStorage {
  const bind = (target: object, key: string | symbol): unknown => {
    const value: unknown = Reflect.get(target, key);
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
  };
  return new Proxy(storage, {
    get(target, key) {
      if (key !== 'clinic') return bind(target, key);
      return async (clinicId: string) => {
        const store = await target.clinic(clinicId);
        return new Proxy(store, {
          get(inner, innerKey) {
            if (innerKey !== 'appendChanges') return bind(inner, innerKey);
            return async (batch: Parameters<typeof store.appendChanges>[0]) => {
              await beforeAppend();
              return inner.appendChanges(batch);
            };
          },
        });
      };
    },
  });
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let ulidCounter = 0;

/** A fresh, valid ULID (unique within the test process; time part fixed). */
export function testUlid(): string {
  let n = ++ulidCounter;
  let tail = '';
  for (let i = 0; i < 16; i++) {
    tail = CROCKFORD[n % 32]! + tail;
    n = Math.floor(n / 32);
  }
  return `01JC000000${tail}`;
}

/** A user id the tests make an Admin of (see `seedDirectoryUser`). */
export const TEST_ADMIN_ID = '01JC0000000000000000ADM1N0';

/** Puts a user with a role straight into the server's user directory (as accepted `user` changes would). */
export async function seedDirectoryUser(
  server: TestServer,
  clinicId: string,
  userId: string = TEST_ADMIN_ID,
  role: 'Admin' | 'Dentist' | 'Receptionist' | 'Staff' = 'Admin',
): Promise<void> {
  const store = await server.storage.clinic(clinicId);
  await store.updateUserDirectory([{ userId, role, roleHlc: encodeHlc({ wallMs: 1, counter: 0, deviceId: 'seed' }) }]);
}

/** Options of a valid change. */
export interface ValidChangeOptions {
  readonly userId?: string;
  readonly entity?: string;
  readonly op?: 'insert' | 'update' | 'delete';
  readonly rowId?: string;
  readonly fields?: Record<string, string | number | boolean | null>;
  /** The change's HLC wall time (the server clock's start by default). */
  readonly wallMs?: number;
}

/**
 * One change the shared schema accepts: by default a patient update by the test Admin. An insert
 * carries valid values for every field it does not state (complete-fields.ts).
 */
export function validChange(deviceId: string, txId: string, options: ValidChangeOptions = {}): ChangeInput {
  ulidCounter++;
  return {
    changeId: testUlid(),
    txId,
    deviceId,
    userId: options.userId ?? TEST_ADMIN_ID,
    entity: options.entity ?? 'patient',
    rowId: options.rowId ?? testUlid(),
    op: options.op ?? 'update',
    fields:
      options.op === 'insert'
        ? completeInsertFields(options.entity ?? 'patient', options.fields ?? {})
        : (options.fields ?? { first_name: `Name ${ulidCounter}` }),
    hlc: encodeHlc({ wallMs: options.wallMs ?? 1_760_000_000_000, counter: ulidCounter % 0xffff, deviceId }),
    schemaVersion: 1,
  };
}

/** A batch of `count` valid changes of one new transaction. */
export function validBatch(
  deviceId: string,
  count: number,
  options: ValidChangeOptions = {},
  txId: string = testUlid(),
): { txId: string; changes: ChangeInput[] } {
  return { txId, changes: Array.from({ length: count }, () => validChange(deviceId, txId, options)) };
}
