/**
 * The sync wire contract (shared/sync/wire/) against the real server: the Fastify app registers
 * exactly the declared routes, no more and no fewer, and every route answers what its declaration
 * says, as the device's own client (main/core/sync/sync-http.ts) parses it. A route added to the
 * server without a declaration, a declaration without a handler, or an answer that drifted from
 * its schema fails here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import {
  auditCheckpoint,
  auditConsistencyProof,
  auditInclusionProof,
  auditPush,
  auditReportPinned,
} from '../../shared/sync/wire/audit.js';
import { changesPull, changesPush, changesQuarantine } from '../../shared/sync/wire/changes.js';
import {
  authChallenge,
  authToken,
  devicesCreateEnrollmentCode,
  devicesEnroll,
} from '../../shared/sync/wire/devices.js';
import { healthApi, healthLive, healthReady } from '../../shared/sync/wire/health.js';
import { SYNC_ROUTES } from '../../shared/sync/wire/index.js';
import { changesLive, liveEventSchema } from '../../shared/sync/wire/live.js';
import { SYNC_PROTOCOL_VERSION } from '../../shared/sync/wire/protocol.js';
import type { AnySyncRoute, SyncRouteAnswer, SyncRouteBody, SyncRouteInput } from '../../shared/sync/wire/route.js';
import { callSyncRoute } from '../../main/core/sync/sync-http.js';
import { deriveServerKeys } from '../../sync-server/auth/server-keys.js';
import { deviceAuthMessage } from '../../sync-server/auth/tokens.js';
import { createSyncServer } from '../../sync-server/server.js';
import { masterKeySource } from '../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../sync-server/storage/sqlite/sqlite-storage.js';
import { TestClock } from '../support/sync-server/conformance-fixtures.js';
import { openLiveStream } from '../support/sync-server/sse-test-reader.js';
import {
  TEST_ADMIN_ID,
  TestDevice,
  describeEachStorage,
  seedClinic,
  seedDirectoryUser,
  testUlid,
  validBatch,
  validChange,
} from '../support/sync-server/test-support.js';
import { snapshotManifestSchema } from '../../shared/sync/snapshot.js';
import { snapshotChunk, snapshotManifest } from '../../shared/sync/wire/snapshot.js';

/** `METHOD path` of a route. */
function endpoint(route: { readonly method: string; readonly path: string }): string {
  return `${route.method} ${route.path}`;
}

/** The routes one side has and the other lacks. */
function routeDrift(registered: readonly string[], declared: readonly string[]) {
  return {
    undeclared: registered.filter((route) => !declared.includes(route)).sort(),
    unregistered: declared.filter((route) => !registered.includes(route)).sort(),
  };
}

/**
 * Builds the real server over a fresh SQLite storage and lists every route it registers (HEAD
 * routes Fastify adds for each GET left out); `extend` may register more before the app starts.
 */
async function registeredRoutes(extend?: (app: ReturnType<typeof createSyncServer>) => void): Promise<string[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-wire-'));
  const clock = new TestClock();
  const storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock });
  try {
    const app = createSyncServer({
      storage,
      serverKeys: deriveServerKeys(randomBytes(32)),
      clock,
      logger: pino({ level: 'silent' }),
    });
    const routes: string[] = [];
    // Added before the plugins load (at ready), so it sees every route they register.
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) {
        if (method !== 'HEAD') routes.push(`${method} ${route.url}`);
      }
    });
    extend?.(app);
    await app.ready();
    await app.close();
    return routes;
  } finally {
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const declared = SYNC_ROUTES.list.map(endpoint);

describe('sync route registry', () => {
  it('has one declaration per method and path, and per name', () => {
    expect(new Set(declared).size).toBe(declared.length);
    expect(SYNC_ROUTES.byName.size).toBe(SYNC_ROUTES.list.length);
  });

  it('matches the routes the server registers, both ways', async () => {
    expect(routeDrift(await registeredRoutes(), declared)).toEqual({ undeclared: [], unregistered: [] });
  });

  it('catches a route the server registers without a declaration', async () => {
    const routes = await registeredRoutes((app) => {
      app.get('/v1/undeclared', async () => ({}));
    });
    expect(routeDrift(routes, declared).undeclared).toContain('GET /v1/undeclared');
  });

  it('catches a declaration the server has no route for', async () => {
    const routes = await registeredRoutes();
    expect(routeDrift(routes, [...declared, 'GET /v1/declared-only']).unregistered).toContain('GET /v1/declared-only');
  });
});

describeEachStorage('sync wire answers', (setup) => {
  it('answers every declared route with its declared answer, as the device client parses it', async () => {
    const server = await setup();
    const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
    const called = new Set<string>();
    /** Calls a route with the device's client: the answer is parsed with the declared schema or throws BAD_ANSWER. */
    const call = <Route extends AnySyncRoute>(
      route: Route,
      input: SyncRouteInput<Route>,
      token?: string,
    ): Promise<SyncRouteAnswer<Route>> => {
      called.add(route.name);
      return callSyncRoute(fetch, address, route, input, token === undefined ? {} : { token });
    };

    expect(await call(healthLive, {})).toEqual({ status: 'ok' });
    expect(await call(healthReady, {})).toEqual({ status: 'ready' });
    const api = await call(healthApi, {});
    expect(api.protocolVersion).toBe(SYNC_PROTOCOL_VERSION);

    const { clinicId, code } = await seedClinic(server, 'Wire Clinic');
    const device = new TestDevice(server, testUlid());
    const enrolled = await call(devicesEnroll, {
      body: { code, deviceId: device.deviceId, deviceName: 'Wire laptop', publicKey: encodeBase64(device.publicKey) },
    });
    expect(enrolled).toMatchObject({ clinicId, deviceId: device.deviceId, deviceNumber: 1 });
    const ids = { clinicId, deviceId: device.deviceId };
    const { challenge } = await call(authChallenge, { body: ids });
    const { token } = await call(authToken, {
      body: { ...ids, challenge, signature: device.sign(deviceAuthMessage(challenge)) },
    });

    await seedDirectoryUser(server, clinicId);
    const enrollmentCode = await call(devicesCreateEnrollmentCode, { body: { userId: TEST_ADMIN_ID } }, token);
    expect(enrollmentCode.code.length).toBeGreaterThan(0);

    // One batch of each outcome: accepted, quarantined (a user the directory does not know),
    // held back (a clock an hour ahead of the server's).
    const accepted = validBatch(device.deviceId, 2);
    const quarantinedTx = testUlid();
    const heldTx = testUlid();
    const pushed = await call(
      changesPush,
      {
        body: {
          protocolVersion: SYNC_PROTOCOL_VERSION,
          batches: [
            accepted,
            { txId: quarantinedTx, changes: [validChange(device.deviceId, quarantinedTx, { userId: testUlid() })] },
            {
              txId: heldTx,
              changes: [validChange(device.deviceId, heldTx, { wallMs: server.clock.now() + 60 * 60_000 })],
            },
          ],
        },
      },
      token,
    );
    expect(pushed.batches.map((batch) => batch.status)).toEqual(['accepted', 'quarantined', 'retry']);

    const quarantine = await call(changesQuarantine, { query: {} }, token);
    expect(quarantine.changes.map((change) => change.txId)).toEqual([quarantinedTx]);
    const page = await call(changesPull, { query: { after: 0, limit: 10 } }, token);
    expect(page.changes.map((change) => change.changeId)).toEqual(accepted.changes.map((change) => change.changeId));

    called.add(changesLive.name);
    const live = await openLiveStream(address, token);
    try {
      const resync = await live.next('resync');
      expect(liveEventSchema.parse(resync)).toEqual({ event: 'resync', data: { latestSeq: page.cursor } });
    } finally {
      live.close();
    }

    const audit = await call(
      auditPush,
      { body: device.auditPush(device.chain.next(3)) as SyncRouteBody<typeof auditPush> },
      token,
    );
    expect(audit).toMatchObject({ appended: 3, duplicates: 0, clientOutdated: false });
    const checkpoint = await call(auditCheckpoint, {}, token);
    expect(checkpoint.size).toBe(3);
    const inclusion = await call(auditInclusionProof, { query: { index: 0, size: checkpoint.size } }, token);
    expect(inclusion).toMatchObject({ index: 0, size: 3 });
    const consistency = await call(auditConsistencyProof, { query: { from: 1, to: checkpoint.size } }, token);
    expect(consistency).toMatchObject({ from: 1, to: 3 });
    const report = await call(
      auditReportPinned,
      { body: { pinned: checkpoint.note, refusal: null, refusedSize: null } },
      token,
    );
    expect(report).toEqual({ logSize: 3, consistent: true, recorded: false });

    const signed = await call(snapshotManifest, {}, token);
    const { snapshotId, cursor } = snapshotManifestSchema.parse(JSON.parse(signed.manifest));
    expect(cursor).toBeGreaterThan(0);
    const chunk = await call(snapshotChunk, { query: { snapshotId, index: 0 } }, token);
    expect(chunk).toMatchObject({ snapshotId, index: 0 });

    expect([...called].sort()).toEqual(SYNC_ROUTES.list.map((route) => route.name).sort());
  });
});
