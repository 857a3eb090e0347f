/**
 * Test support for device sync: a sync server over SQLite listening on 127.0.0.1 (real HTTP),
 * operator enrollment codes, and a second clinic core acting as another device of the clinic.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClinicCore } from '../../main/core/clinic-core.js';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import type { SyncEngineOptions } from '../../main/core/sync/sync-engine.js';
import { type TestServer, startTestServer } from '../support/sync-server/test-support.js';
import { TestClock } from '../support/sync-server/conformance-fixtures.js';
import { masterKeySource } from '../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../sync-server/storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../../sync-server/storage/storage.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import {
  ADMIN_PASSWORD,
  TestCaller,
  type TestClinic,
  USER_PASSWORD,
  createTestClinic,
  tempDataDir,
  testKeyProvider,
} from '../support/clinic-fixture.js';

/** Retries that do not wait: tests stay fast. */
export const FAST_SYNC: SyncEngineOptions = {
  retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
  sleep: async () => {},
  requestTimeoutMs: 5_000,
  // These tests drive rounds themselves (sync.now); background rounds would race their counts.
  background: false,
};

/** A sync server over an encrypted SQLite storage, listening on a loopback port. */
export interface ListeningServer {
  readonly url: string;
  readonly server: TestServer;
  readonly storage: SyncStorage;
  /** Stops answering (the storage stays open); `restart` listens again on the same port. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startListeningServer(): Promise<ListeningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-sync-device-'));
  // The devices' manual clocks start here too: a server clock behind them would hold pushes back.
  const clock = new TestClock(new ManualClock().now());
  const storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock });
  let server = await startTestServer(storage, clock);
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (server.app.server.address() as AddressInfo).port;
  let running = true;
  return {
    url: `http://127.0.0.1:${port}`,
    get server() {
      return server;
    },
    storage,
    async stop() {
      await server.app.close();
      running = false;
    },
    async restart() {
      // Same keys, as a real restart derives them from the same master key: devices pin them.
      server = await startTestServer(storage, clock, { serverKeys: server.keys });
      await server.app.listen({ port, host: '127.0.0.1' });
      running = true;
    },
    async close() {
      if (running) await server.app.close();
      await storage.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates the clinic on the server (as `clinic create` does) and returns its id and first code. */
export async function operatorClinic(storage: SyncStorage): Promise<{ clinicId: string; code: string }> {
  const clinic = await storage.createClinic({ name: 'Smile Dental' });
  return { clinicId: clinic.clinicId, code: await operatorCode(storage, clinic.clinicId) };
}

/** Another one-time code for the clinic (as `clinic code` does). */
export async function operatorCode(storage: SyncStorage, clinicId: string): Promise<string> {
  const store = await storage.clinic(clinicId);
  return (await store.createEnrollmentCode({ ttlMs: 60 * 60_000, createdBy: null })).code;
}

/**
 * Makes users known to the server's user directory, where the server has one (re-validation of
 * pushes checks each change's author there). A device joining with setup.joinClinic would share
 * the clinic's users; the second device here is a separate clinic database, so its Admin is
 * registered as the operator would.
 */
export async function registerUsers(
  storage: SyncStorage,
  clinicId: string,
  users: ReadonlyArray<{ userId: string; role: 'Admin' | 'Dentist' | 'Receptionist' | 'Staff' }>,
): Promise<void> {
  const store = await storage.clinic(clinicId);
  await store.updateUserDirectory(
    users.map((user) => ({ ...user, roleHlc: encodeHlc({ wallMs: 1, counter: 0, deviceId: 'operator' }) })),
  );
}

/** A second device: its own clinic database (own seed, so own device and row ids), an Admin signed in. */
export interface SecondDevice {
  readonly core: ClinicCore;
  readonly admin: TestCaller;
  readonly clock: ManualClock;
  readonly branchId: string;
  readonly adminUserId: string;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** A device with no clinic database yet (before setup), on its own manual clock. */
export interface FreshDevice {
  readonly core: ClinicCore;
  readonly clock: ManualClock;
  readonly dataDir: string;
  /** Closes the core and removes its files. */
  close(): Promise<void>;
}

export async function openFreshDevice(seed: string, sync: SyncEngineOptions = FAST_SYNC): Promise<FreshDevice> {
  const temp = tempDataDir();
  const clock = new ManualClock();
  const core = await ClinicCore.open({
    dataDir: temp.dir,
    keyProvider: testKeyProvider(),
    sources: testSources(seed, clock),
    bcryptCost: 4,
    rateLimits: { readsPerMinute: 100_000, writesPerMinute: 100_000, publicPerMinute: 100_000 },
    sync,
  });
  return {
    core,
    clock,
    dataDir: temp.dir,
    async close() {
      await core.close();
      temp.remove();
    },
  };
}

export async function secondDevice(seed: string, branchName: string, sync: SyncEngineOptions): Promise<SecondDevice> {
  const { core, clock, dataDir, close } = await openFreshDevice(seed, sync);
  const admin = new TestCaller(core);
  const setup = await admin.ok('setup.createClinic', {
    clinicName: 'Smile Dental',
    branchName,
    admin: { username: 'admin', displayName: 'Asha Admin', password: ADMIN_PASSWORD },
  });
  await admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
  return {
    core,
    admin,
    clock,
    branchId: setup.branchId,
    adminUserId: setup.adminUserId,
    dataDir,
    close,
  };
}

/** Device A of a clinic, connected to the server, with a Dentist (`drmeera`) the server's directory knows. */
export interface ConnectedFounder {
  readonly clinic: TestClinic;
  readonly dentist: TestCaller & { userId: string };
  readonly serverClinicId: string;
}

/** Founds a clinic, makes its Dentist, connects it with an operator code and runs one round. The caller closes it. */
export async function connectFoundingClinic(server: ListeningServer): Promise<ConnectedFounder> {
  const clinic = await createTestClinic({ sync: FAST_SYNC });
  // Made before connecting, so sync.connect's snapshot teaches the server this Dentist.
  const dentist = await clinic.signedInUser('Dentist', { allBranches: true, username: 'drmeera' });
  const created = await operatorClinic(server.storage);
  await clinic.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
  await clinic.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: created.code });
  await dentist.ok('sync.now', {});
  return { clinic, dentist, serverClinicId: created.clinicId };
}

/** A fresh device that joined the founder's clinic, with the Dentist and the Admin signed in on it. */
export interface JoinedDevice {
  readonly device: FreshDevice;
  readonly dentist: TestCaller;
  readonly admin: TestCaller;
  readonly deviceId: string;
}

/** A fresh device joins with a code from the founder's Admin (setup.joinClinic). The caller closes `device`. */
export async function joinFounderClinic(founder: TestClinic, serverUrl: string, seed: string): Promise<JoinedDevice> {
  const device = await openFreshDevice(seed);
  try {
    await founder.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const { code } = await founder.asAdmin('devices.createEnrollmentCode', {});
    const joined = await new TestCaller(device.core).ok('setup.joinClinic', { serverUrl, enrollmentCode: code });
    const dentist = new TestCaller(device.core);
    await dentist.ok('auth.signIn', { username: 'drmeera', password: USER_PASSWORD });
    const admin = new TestCaller(device.core);
    await admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    return { device, dentist, admin, deviceId: joined.deviceId };
  } catch (error) {
    await device.close();
    throw error;
  }
}
