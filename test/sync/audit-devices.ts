/**
 * Test support for the consolidated audit log: a listening sync server, device A (an existing
 * clinic connected with an operator code, its requests going through a replaceable fault) and
 * device B (a fresh device that joined with A's enrollment code), each with an Admin signed in.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import type { ClinicCore } from '../../main/core/clinic-core.js';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { ADMIN_PASSWORD, TestCaller, type TestClinic, createTestClinic } from '../support/clinic-fixture.js';
import { openRawDatabase } from '../support/raw-database.js';
import { FAST_SYNC, type ListeningServer, openFreshDevice, operatorClinic } from './sync-support.js';

/** A's requests pass through `fault` when one is set, else go to the server as they are. */
export interface FaultableFetch {
  fault: FetchLike | null;
  readonly fetch: FetchLike;
}

export function faultableFetch(): FaultableFetch {
  const holder: FaultableFetch = {
    fault: null,
    fetch: (url, init) => (holder.fault ? holder.fault(url, init) : fetch(url, init)),
  };
  return holder;
}

/** A joined device: its core, its data directory and its Admin signed in. */
export interface JoinedDevice {
  readonly core: ClinicCore;
  readonly admin: TestCaller;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** The two devices of one server clinic. */
export interface AuditDevices {
  readonly a: TestClinic;
  readonly aFetch: FaultableFetch;
  readonly b: JoinedDevice;
  readonly serverClinicId: string;
  close(): Promise<void>;
}

/** Connects A with an operator code, then joins a fresh B with a code A's Admin made. */
export async function connectAuditDevices(server: Pick<ListeningServer, 'url' | 'storage'>): Promise<AuditDevices> {
  const aFetch = faultableFetch();
  const a = await createTestClinic({ sync: { ...FAST_SYNC, fetch: aFetch.fetch } });
  const { clinicId: serverClinicId, code: operatorCode } = await operatorClinic(server.storage);
  await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
  await a.asAdmin('sync.connect', { serverUrl: server.url, enrollmentCode: operatorCode });
  await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
  const { code } = await a.asAdmin('devices.createEnrollmentCode', {});

  const fresh = await openFreshDevice('audit-device-b');
  const { core } = fresh;
  const joiner = new TestCaller(core);
  await joiner.ok('setup.joinClinic', { serverUrl: server.url, enrollmentCode: code });
  const admin = new TestCaller(core);
  await admin.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
  const b: JoinedDevice = {
    core,
    admin,
    dataDir: fresh.dataDir,
    close: fresh.close,
  };
  return {
    a,
    aFetch,
    b,
    serverClinicId,
    async close() {
      await b.close();
      await a.close();
    },
  };
}

/** Runs a statement on a second connection to a device database (to read state or to tamper). */
export async function withRawDatabase<T>(dataDir: string, use: (db: Database.Database) => T): Promise<T> {
  const db = await openRawDatabase(dataDir);
  try {
    return use(db);
  } finally {
    db.close();
  }
}

/** This device's audit entries as (seq, hash), in order, and what the server acknowledged. */
export async function localChain(
  dataDir: string,
): Promise<{ deviceId: string; entries: Array<{ epoch: number; seq: number; hash: string }>; accepted: number }> {
  return withRawDatabase(dataDir, (db) => {
    const deviceId = (db.prepare('SELECT id FROM device').get() as { id: string }).id;
    const entries = db
      .prepare('SELECT epoch, seq, hash FROM audit_log WHERE device_id = ? ORDER BY epoch, seq')
      .all(deviceId) as Array<{ epoch: number; seq: number; hash: string }>;
    const accepted =
      (
        db.prepare('SELECT accepted_seq FROM sync_audit_push WHERE device_id = ? AND epoch = 1').get(deviceId) as
          { accepted_seq: number } | undefined
      )?.accepted_seq ?? 0;
    return { deviceId, entries, accepted };
  });
}
