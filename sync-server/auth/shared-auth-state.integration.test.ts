import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from '../http/protocol.js';
import { createSyncServer } from '../server.js';
import { TestClock } from '../../test/support/sync-server/conformance-fixtures.js';
import { AUTH_SCHEMA, RATE_LIMIT_TABLE } from '../storage/postgres/migrations/0080-auth-state.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { type TestDatabase, createTestDatabase } from '../../test/support/sync-server/test-database.js';
import type { SyncStorage } from '../storage/storage.js';
import { DEFAULT_RATE_LIMITS, type RateLimitSettings, type RateLimitStore } from './rate-limits.js';
import { deriveServerKeys } from './server-keys.js';
import { deviceAuthMessage } from './tokens.js';

// Two server processes are two apps with their own storage pools and limiter pools, sharing only
// the database and the master key, as two `npm run server -- --postgres URL` processes would.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const TIGHT: RateLimitSettings = {
  ...DEFAULT_RATE_LIMITS,
  attemptsPerAddress: { points: 1000, durationS: 60, blockS: 60 },
  failuresPerAddress: { points: 3, durationS: 60, blockS: 300 },
  failuresPerDevice: { points: 1000, durationS: 60, blockS: 300 },
};

interface ServerProcess {
  readonly app: FastifyInstance;
  readonly storage: SyncStorage;
  post(url: string, body: unknown, remoteAddress: string): Promise<LightMyRequestResponse>;
}

async function startProcess(
  masterKey: Buffer,
  clock: TestClock,
  limits: 'postgres' | 'memory',
  rateLimits: RateLimitSettings = TIGHT,
): Promise<ServerProcess> {
  const storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey: db.masterKey });
  cleanup.push(() => storage.close());
  let rateLimitStore: RateLimitStore = { kind: 'memory' };
  if (limits === 'postgres') {
    const pool = new pg.Pool({ ...db.app, max: 2 });
    cleanup.push(() => pool.end());
    rateLimitStore = { kind: 'postgres', pool, schemaName: AUTH_SCHEMA, tableName: RATE_LIMIT_TABLE };
  }
  const app = createSyncServer({
    storage,
    serverKeys: deriveServerKeys(masterKey),
    clock,
    logger: pino({ level: 'silent' }),
    rateLimits,
    rateLimitStore,
  });
  await app.ready();
  cleanup.push(() => app.close());
  return {
    app,
    storage,
    post: (url, body, remoteAddress) =>
      app.inject({
        method: 'POST',
        url,
        remoteAddress,
        headers: { [PROTOCOL_HEADER]: String(SYNC_PROTOCOL_VERSION) },
        payload: body as object,
      }),
  };
}

// The limiter table outlives a test (it is the database's), so each test's honest device uses
// its own address and no test's failures block another's.
let addressCounter = 0;
function freshAddress(): string {
  addressCounter++;
  return `192.0.2.${addressCounter}`;
}

/** A clinic with one device enrolled through process `via`; returns how the device signs. */
async function enrolledDevice(via: ServerProcess, deviceId: string) {
  const home = freshAddress();
  const clinic = await via.storage.createClinic({ name: 'Smile Dental' });
  const store = await via.storage.clinic(clinic.clinicId);
  const { code } = await store.createEnrollmentCode({ ttlMs: 60 * 60_000, createdBy: null });
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  const enrolled = await via.post(
    '/v1/enroll',
    { code, deviceId, deviceName: 'Front desk', publicKey: encodeBase64(raw) },
    home,
  );
  expect(enrolled.statusCode).toBe(200);
  const answer = (challenge: string) => ({
    clinicId: clinic.clinicId,
    deviceId,
    challenge,
    signature: encodeBase64(new Uint8Array(sign(null, deviceAuthMessage(challenge), privateKey))),
  });
  return { clinicId: clinic.clinicId, answer, home };
}

async function challengeFrom(process: ServerProcess, device: { clinicId: string; home: string }): Promise<string> {
  const response = await process.post(
    '/v1/auth/challenge',
    { clinicId: device.clinicId, deviceId: 'front-desk-1' },
    device.home,
  );
  expect(response.statusCode).toBe(200);
  return (response.json() as { challenge: string }).challenge;
}

describe('auth state shared by server processes on one PostgreSQL', () => {
  it('refuses on process B a challenge answer already traded for a token on process A', async () => {
    const masterKey = randomBytes(32);
    const clock = new TestClock();
    const a = await startProcess(masterKey, clock, 'postgres');
    const b = await startProcess(masterKey, clock, 'postgres');
    const device = await enrolledDevice(a, 'front-desk-1');
    const answer = device.answer(await challengeFrom(a, device));

    expect((await a.post('/v1/auth/token', answer, device.home)).statusCode).toBe(200);
    const replayOnB = await b.post('/v1/auth/token', answer, device.home);
    expect(replayOnB.statusCode).toBe(401);
    expect((await a.post('/v1/auth/token', answer, device.home)).statusCode).toBe(401);
    // A fresh challenge from B is still honoured on A: only the nonce is spent.
    const fresh = device.answer(await challengeFrom(b, device));
    expect((await a.post('/v1/auth/token', fresh, device.home)).statusCode).toBe(200);
  });

  it('lets only one of two processes answering the same challenge at once issue a token', async () => {
    const masterKey = randomBytes(32);
    const clock = new TestClock();
    const a = await startProcess(masterKey, clock, 'postgres');
    const b = await startProcess(masterKey, clock, 'postgres');
    const device = await enrolledDevice(a, 'front-desk-1');
    const answer = device.answer(await challengeFrom(a, device));
    // Each from its own address: four concurrent answers from one address would meet its failure
    // budget of 3 before the nonce (each is reserved as a failure until it succeeds).
    const statuses = await Promise.all(
      [a, b, a, b].map((process) => process.post('/v1/auth/token', answer, freshAddress())),
    );
    expect(statuses.map((response) => response.statusCode).sort()).toEqual([200, 401, 401, 401]);
  });

  it('counts failed token requests on process A against the same address on process B', async () => {
    const masterKey = randomBytes(32);
    const clock = new TestClock();
    const a = await startProcess(masterKey, clock, 'postgres');
    const b = await startProcess(masterKey, clock, 'postgres');
    const device = await enrolledDevice(a, 'front-desk-1');
    const attacker = '198.51.100.7';
    const forged = { ...device.answer(await challengeFrom(a, device)) };
    forged.signature = encodeBase64(new Uint8Array(64));
    for (let i = 0; i < 3; i++) expect((await a.post('/v1/auth/token', forged, attacker)).statusCode).toBe(401);

    const good = device.answer(await challengeFrom(a, device));
    const blocked = await b.post('/v1/auth/token', good, attacker);
    expect(blocked.statusCode).toBe(429);
    expect((blocked.json() as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    // Another address is not blocked by the attacker's failures.
    expect((await b.post('/v1/auth/token', good, device.home)).statusCode).toBe(200);
  });

  it('counts failures naming a device across processes, and still gives its valid signature a token', async () => {
    const masterKey = randomBytes(32);
    const clock = new TestClock();
    const perDevice: RateLimitSettings = { ...TIGHT, failuresPerDevice: { points: 4, durationS: 60, blockS: 300 } };
    const a = await startProcess(masterKey, clock, 'postgres', perDevice);
    const b = await startProcess(masterKey, clock, 'postgres', perDevice);
    const device = await enrolledDevice(a, 'front-desk-1');
    const forged = { ...device.answer(await challengeFrom(a, device)) };
    forged.signature = encodeBase64(new Uint8Array(64));
    for (const [process, address] of [
      [a, '203.0.113.1'],
      [b, '203.0.113.2'],
      [a, '203.0.113.3'],
      [b, '203.0.113.4'],
    ] as const) {
      expect((await process.post('/v1/auth/token', forged, address)).statusCode).toBe(401);
    }
    // The device's budget is spent on both processes: another failure is throttled...
    expect((await a.post('/v1/auth/token', forged, '203.0.113.5')).statusCode).toBe(429);
    // ...but the clinic is not: the device's valid answer gets its token, on either process.
    const good = device.answer(await challengeFrom(b, device));
    expect((await b.post('/v1/auth/token', good, '203.0.113.9')).statusCode).toBe(200);
    expect(
      (await a.post('/v1/auth/challenge', { clinicId: device.clinicId, deviceId: 'front-desk-1' }, device.home))
        .statusCode,
    ).toBe(200);
  });

  it('keeps in-memory limits to their own process (what SQLite deployments use)', async () => {
    const masterKey = randomBytes(32);
    const clock = new TestClock();
    const a = await startProcess(masterKey, clock, 'memory');
    const b = await startProcess(masterKey, clock, 'memory');
    const device = await enrolledDevice(a, 'front-desk-1');
    const attacker = '198.51.100.8';
    const forged = { ...device.answer(await challengeFrom(a, device)) };
    forged.signature = encodeBase64(new Uint8Array(64));
    for (let i = 0; i < 3; i++) expect((await a.post('/v1/auth/token', forged, attacker)).statusCode).toBe(401);
    expect((await a.post('/v1/auth/token', forged, attacker)).statusCode).toBe(429);
    const good = device.answer(await challengeFrom(b, device));
    expect((await b.post('/v1/auth/token', good, attacker)).statusCode).toBe(200);
  });
});
