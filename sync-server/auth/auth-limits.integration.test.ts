/**
 * The brute-force limits of the enrollment and token endpoints under attack (issue #11, finding 4
 * and "limits that hold under bursts and behind a proxy"), on the embedded storage with its
 * in-memory limits and on PostgreSQL with the limits' shared table, one process and two:
 * - a flood of failed token requests naming a clinic does not keep its genuine device offline;
 * - a burst of concurrent bad answers from one address is evaluated at most the budget's times;
 * - X-Forwarded-For counts only from a configured proxy.
 */
import { type KeyObject, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { TestClock } from '../../test/support/sync-server/conformance-fixtures.js';
import { type TestDatabase, createTestDatabase } from '../../test/support/sync-server/test-database.js';
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from '../http/protocol.js';
import { createSyncServer } from '../server.js';
import { AUTH_SCHEMA, RATE_LIMIT_TABLE } from '../storage/postgres/migrations/0080-auth-state.js';
import { openPostgresSyncStorage } from '../storage/postgres/postgres-storage.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../storage/storage.js';
import { DEFAULT_RATE_LIMITS, type RateLimitSettings, type RateLimitStore } from './rate-limits.js';
import { deriveServerKeys } from './server-keys.js';
import { deviceAuthMessage } from './tokens.js';

type Deployment = 'SQLite, limits in memory' | 'PostgreSQL, limits in PostgreSQL';

interface ServerProcess {
  readonly app: FastifyInstance;
  readonly storage: SyncStorage;
  post(url: string, body: unknown, from: { address: string; forwardedFor?: string }): Promise<LightMyRequestResponse>;
}

interface ProcessOptions {
  readonly rateLimits: RateLimitSettings;
  readonly trustedProxies?: readonly string[];
  /**
   * Storage lookups of the auth routes take a few milliseconds, as on a busy disk or database, so
   * concurrent requests interleave on one process as they do in production.
   */
  readonly slowLookups?: boolean;
}

/** The storage with its auth-route lookups (clinic, enrollment) delayed by `ms`. */
function withSlowLookups(storage: SyncStorage, ms: number): SyncStorage {
  const pause = () => new Promise((resolve) => setTimeout(resolve, ms));
  return new Proxy(storage, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if ((key === 'clinic' || key === 'redeemEnrollmentCode') && typeof value === 'function') {
        return async (...args: unknown[]) => {
          await pause();
          return (value as (...args: unknown[]) => Promise<unknown>).apply(target, args);
        };
      }
      return value;
    },
  });
}

let db: TestDatabase | undefined;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Every process of a test shares one master key, as processes of one deployment do. */
const masterKey = randomBytes(32);

async function startProcess(deployment: Deployment, options: ProcessOptions): Promise<ServerProcess> {
  const clock = new TestClock();
  let storage: SyncStorage;
  let rateLimitStore: RateLimitStore = { kind: 'memory' };
  if (deployment === 'SQLite, limits in memory') {
    const dataDir = mkdtempSync(join(tmpdir(), 'chairside-auth-limits-'));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(masterKey), clock });
  } else {
    storage = await openPostgresSyncStorage({ connection: db!.app, clock, masterKey: db!.masterKey });
    const pool = new pg.Pool({ ...db!.app, max: 4 });
    cleanup.push(() => pool.end());
    rateLimitStore = { kind: 'postgres', pool, schemaName: AUTH_SCHEMA, tableName: RATE_LIMIT_TABLE };
  }
  cleanup.push(() => storage.close());
  const app = createSyncServer({
    storage: options.slowLookups ? withSlowLookups(storage, 5) : storage,
    serverKeys: deriveServerKeys(masterKey),
    clock,
    logger: pino({ level: 'silent' }),
    rateLimits: options.rateLimits,
    rateLimitStore,
    ...(options.trustedProxies ? { trustedProxies: options.trustedProxies } : {}),
  });
  await app.ready();
  cleanup.push(() => app.close());
  return {
    app,
    storage,
    post: (url, body, from) =>
      app.inject({
        method: 'POST',
        url,
        remoteAddress: from.address,
        headers: {
          [PROTOCOL_HEADER]: String(SYNC_PROTOCOL_VERSION),
          ...(from.forwardedFor === undefined ? {} : { 'x-forwarded-for': from.forwardedFor }),
        },
        payload: body as object,
      }),
  };
}

// The PostgreSQL limits table outlives a test, so every test takes addresses no other test used.
let addressCounter = 0;
function freshAddress(): string {
  addressCounter++;
  return `192.0.2.${addressCounter}`;
}
function freshNetwork(): (host: number) => string {
  addressCounter++;
  return (host) => `10.${addressCounter}.0.${host}`;
}

/** A clinic with one genuine device enrolled from `home`; answers challenges with its key. */
async function genuineDevice(via: ServerProcess, home = freshAddress()) {
  const clinic = await via.storage.createClinic({ name: 'Smile Dental' });
  const store = await via.storage.clinic(clinic.clinicId);
  const { code } = await store.createEnrollmentCode({ ttlMs: 60 * 60_000, createdBy: null });
  const deviceId = 'front-desk-1';
  const keys = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  const enrolled = await via.post(
    '/v1/enroll',
    { code, deviceId, deviceName: 'Front desk', publicKey: encodeBase64(raw) },
    { address: home },
  );
  expect(enrolled.statusCode).toBe(200);
  return { clinicId: clinic.clinicId, deviceId, home, privateKey: keys.privateKey };
}

function signed(challenge: string, privateKey: KeyObject): string {
  return encodeBase64(new Uint8Array(sign(null, deviceAuthMessage(challenge), privateKey)));
}

async function challengeFor(
  process: ServerProcess,
  clinicId: string,
  deviceId: string,
  from: { address: string; forwardedFor?: string },
): Promise<string> {
  const response = await process.post('/v1/auth/challenge', { clinicId, deviceId }, from);
  expect(response.statusCode).toBe(200);
  return (response.json() as { challenge: string }).challenge;
}

/** The genuine device's whole sign-in from `from`: a fresh challenge, then its signed answer. */
async function genuineSignIn(
  process: ServerProcess,
  device: Awaited<ReturnType<typeof genuineDevice>>,
  from: { address: string; forwardedFor?: string } = { address: device.home },
): Promise<LightMyRequestResponse> {
  const challenge = await challengeFor(process, device.clinicId, device.deviceId, from);
  return process.post(
    '/v1/auth/token',
    {
      clinicId: device.clinicId,
      deviceId: device.deviceId,
      challenge,
      signature: signed(challenge, device.privateKey),
    },
    from,
  );
}

/** A token request with a real challenge for `deviceId` and a signature by a key the server does not know. */
async function forgedAnswer(process: ServerProcess, clinicId: string, deviceId: string, address: string) {
  const challenge = await challengeFor(process, clinicId, deviceId, { address });
  return { clinicId, deviceId, challenge, signature: signed(challenge, generateKeyPairSync('ed25519').privateKey) };
}

function statusCounts(responses: readonly LightMyRequestResponse[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const response of responses) counts[response.statusCode] = (counts[response.statusCode] ?? 0) + 1;
  return counts;
}

/** Budgets where only the per-address failures matter, as small as a test wants. */
function failureBudget(points: number): RateLimitSettings {
  return {
    ...DEFAULT_RATE_LIMITS,
    attemptsPerAddress: { points: 1_000, durationS: 60, blockS: 60 },
    failuresPerAddress: { points, durationS: 60, blockS: 300 },
    failuresPerAddressLong: { points: 1_000, durationS: 3_600, blockS: 3_600 },
    failuresPerDevice: { points: 1_000, durationS: 60, blockS: 60 },
  };
}

for (const deployment of ['SQLite, limits in memory', 'PostgreSQL, limits in PostgreSQL'] as const) {
  describe(`auth limits under attack (${deployment})`, () => {
    it('gives the genuine device a token at once after 100 failed token requests naming its clinic', async () => {
      // The production budgets: what the flood of finding 4 met.
      const server = await startProcess(deployment, { rateLimits: DEFAULT_RATE_LIMITS });
      const device = await genuineDevice(server);
      const attacker = freshNetwork();
      const flood: LightMyRequestResponse[] = [];
      for (let i = 0; i < 100; i++) {
        const address = attacker(i % 10);
        // Half name bogus devices, half the genuine device with a signature by the wrong key.
        const deviceId = i % 2 === 0 ? `bogus-${i}` : device.deviceId;
        const answer = await forgedAnswer(server, device.clinicId, deviceId, address);
        flood.push(await server.post('/v1/auth/token', answer, { address }));
      }
      expect(flood.every((response) => response.statusCode === 401 || response.statusCode === 429)).toBe(true);

      const signIn = await genuineSignIn(server, device);
      expect(signIn.statusCode).toBe(200);
      expect((signIn.json() as { token: string }).token).toEqual(expect.any(String));
    });

    it('gives a valid signature its token while the device named is over its failure budget', async () => {
      const rateLimits: RateLimitSettings = {
        ...failureBudget(1_000),
        failuresPerDevice: { points: 5, durationS: 60, blockS: 60 },
      };
      const server = await startProcess(deployment, { rateLimits });
      const device = await genuineDevice(server);
      const attacker = freshNetwork();
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const answer = await forgedAnswer(server, device.clinicId, device.deviceId, attacker(i));
        statuses.push((await server.post('/v1/auth/token', answer, { address: attacker(i) })).statusCode);
      }
      // The device's budget is spent: the flood's answers are throttled...
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
      // ...and the device's own valid answer is not.
      expect((await genuineSignIn(server, device)).statusCode).toBe(200);
      // Another device of the same clinic is not charged for the first one's attackers.
      const other = await forgedAnswer(server, device.clinicId, 'reception-2', freshAddress());
      expect((await server.post('/v1/auth/token', other, { address: freshAddress() })).statusCode).toBe(401);
    });

    it('evaluates at most 10 of 25 concurrent bad token answers from one address with a budget of 10', async () => {
      const server = await startProcess(deployment, { rateLimits: failureBudget(10), slowLookups: true });
      const device = await genuineDevice(server);
      const attacker = freshAddress();
      const answer = await forgedAnswer(server, device.clinicId, device.deviceId, attacker);
      const responses = await Promise.all(
        Array.from({ length: 25 }, () => server.post('/v1/auth/token', answer, { address: attacker })),
      );
      expect(statusCounts(responses)).toEqual({ 401: 10, 429: 15 });
      const limited = responses.find((response) => response.statusCode === 429)!;
      expect((limited.json() as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
      expect(limited.headers['retry-after']).toBeDefined();
      // The address is blocked now for the block time (300 s), longer than the window's rest, even
      // for the genuine device's valid answer; elsewhere it is not.
      const blocked = await server.post('/v1/auth/token', answer, { address: attacker });
      expect(blocked.statusCode).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(60);
      expect((await genuineSignIn(server, device)).statusCode).toBe(200);
    });

    it('tries at most 10 of 25 concurrent enrollment code guesses from one address with a budget of 10', async () => {
      const server = await startProcess(deployment, { rateLimits: failureBudget(10), slowLookups: true });
      const attacker = freshAddress();
      const { publicKey } = generateKeyPairSync('ed25519');
      const raw = encodeBase64(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32)));
      const responses = await Promise.all(
        Array.from({ length: 25 }, (_, i) =>
          server.post(
            '/v1/enroll',
            { code: `WRONG-CODE-${i}`, deviceId: `guess-${i}`, deviceName: 'Guess', publicKey: raw },
            { address: attacker },
          ),
        ),
      );
      const codes = responses.map((response) => (response.json() as { error: { code: string } }).error.code);
      expect(codes.filter((code) => code === 'ENROLLMENT_REFUSED')).toHaveLength(10);
      expect(codes.filter((code) => code === 'RATE_LIMITED')).toHaveLength(15);
    });

    it('counts every address of one IPv6 /64 against one budget', async () => {
      const server = await startProcess(deployment, { rateLimits: failureBudget(3) });
      const device = await genuineDevice(server);
      addressCounter++;
      const network = `2001:db8:${addressCounter.toString(16)}:1`;
      const statuses: number[] = [];
      for (let host = 1; host <= 4; host++) {
        const address = `${network}::${host}`;
        const answer = await forgedAnswer(server, device.clinicId, device.deviceId, freshAddress());
        statuses.push((await server.post('/v1/auth/token', answer, { address })).statusCode);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
      // The next /64 is another client.
      const answer = await forgedAnswer(server, device.clinicId, device.deviceId, freshAddress());
      const neighbour = `2001:db8:${addressCounter.toString(16)}:2::1`;
      expect((await server.post('/v1/auth/token', answer, { address: neighbour })).statusCode).toBe(401);
    });

    it('gives back the failure it reserved when an answer is valid, so successes spend no failure budget', async () => {
      const server = await startProcess(deployment, { rateLimits: failureBudget(3) });
      const device = await genuineDevice(server);
      const forged = await forgedAnswer(server, device.clinicId, device.deviceId, device.home);
      expect((await server.post('/v1/auth/token', forged, { address: device.home })).statusCode).toBe(401);
      expect((await server.post('/v1/auth/token', forged, { address: device.home })).statusCode).toBe(401);
      for (let i = 0; i < 5; i++) expect((await genuineSignIn(server, device)).statusCode).toBe(200);
      // Two failures were counted, not seven: the third is still evaluated (401), the fourth is not.
      expect((await server.post('/v1/auth/token', forged, { address: device.home })).statusCode).toBe(401);
      expect((await server.post('/v1/auth/token', forged, { address: device.home })).statusCode).toBe(429);
    });
  });
}

describe('auth limits shared by two server processes on one PostgreSQL', () => {
  it('evaluates at most 10 of 25 concurrent bad token answers from one address split over two processes', async () => {
    const a = await startProcess('PostgreSQL, limits in PostgreSQL', { rateLimits: failureBudget(10) });
    const b = await startProcess('PostgreSQL, limits in PostgreSQL', { rateLimits: failureBudget(10) });
    const device = await genuineDevice(a);
    const attacker = freshAddress();
    const answer = await forgedAnswer(a, device.clinicId, device.deviceId, attacker);
    const responses = await Promise.all(
      Array.from({ length: 25 }, (_, i) => (i % 2 === 0 ? a : b).post('/v1/auth/token', answer, { address: attacker })),
    );
    expect(statusCounts(responses)).toEqual({ 401: 10, 429: 15 });
    expect((await genuineSignIn(b, device)).statusCode).toBe(200);
  });
});

describe('auth limits behind a proxy', () => {
  const deployment = 'SQLite, limits in memory';

  /** Spends client `forwardedFor`'s failure budget of 3 through `peer`; returns the 4th answer's status. */
  async function spendBudget(server: ServerProcess, clinicId: string, peer: string, forwardedFor: string) {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await forgedAnswer(server, clinicId, 'front-desk-1', freshAddress());
      statuses.push((await server.post('/v1/auth/token', answer, { address: peer, forwardedFor })).statusCode);
    }
    return statuses;
  }

  it('ignores X-Forwarded-For by default: clients naming different addresses share their peer budget', async () => {
    const server = await startProcess(deployment, { rateLimits: failureBudget(3) });
    const device = await genuineDevice(server);
    const peer = freshAddress();
    expect(await spendBudget(server, device.clinicId, peer, '203.0.113.10')).toEqual([401, 401, 401, 429]);
    // A second "client" behind the same peer is that peer, whatever it claims.
    const answer = await forgedAnswer(server, device.clinicId, device.deviceId, freshAddress());
    const spoofed = await server.post('/v1/auth/token', answer, { address: peer, forwardedFor: '203.0.113.11' });
    expect(spoofed.statusCode).toBe(429);
  });

  it('gives each client behind a configured proxy its own budget', async () => {
    const network = freshNetwork();
    const proxy = network(1);
    const server = await startProcess(deployment, {
      rateLimits: failureBudget(3),
      trustedProxies: [`${network(0)}/24`],
    });
    const device = await genuineDevice(server);
    expect(await spendBudget(server, device.clinicId, proxy, '203.0.113.20')).toEqual([401, 401, 401, 429]);
    // Another client of the same proxy is counted on its own...
    const answer = await forgedAnswer(server, device.clinicId, device.deviceId, freshAddress());
    expect(
      (await server.post('/v1/auth/token', answer, { address: proxy, forwardedFor: '203.0.113.21' })).statusCode,
    ).toBe(401);
    // ...and the genuine device behind the proxy signs in.
    expect((await genuineSignIn(server, device, { address: proxy, forwardedFor: '203.0.113.22' })).statusCode).toBe(
      200,
    );
    // A client cannot escape its budget by sending its own X-Forwarded-For through the proxy: the
    // proxy appends the address it saw, and that one (the last untrusted) is what counts.
    const chained = await server.post('/v1/auth/token', answer, {
      address: proxy,
      forwardedFor: '198.51.100.99, 203.0.113.20',
    });
    expect(chained.statusCode).toBe(429);
  });

  it('ignores X-Forwarded-For from a peer that is not a configured proxy', async () => {
    const network = freshNetwork();
    const server = await startProcess(deployment, {
      rateLimits: failureBudget(3),
      trustedProxies: [network(1)],
    });
    const device = await genuineDevice(server);
    const stranger = freshAddress();
    expect(await spendBudget(server, device.clinicId, stranger, '203.0.113.30')).toEqual([401, 401, 401, 429]);
    const answer = await forgedAnswer(server, device.clinicId, device.deviceId, freshAddress());
    const spoofed = await server.post('/v1/auth/token', answer, { address: stranger, forwardedFor: '203.0.113.31' });
    expect(spoofed.statusCode).toBe(429);
  });
});
