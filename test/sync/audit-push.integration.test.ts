/**
 * Devices push their audit chains and pin the server's checkpoints (docs/sync-protocol.md,
 * "Device audit push (built)", "Checkpoint pinning (built)"), over real HTTP to a sync server on
 * SQLite: device A connected an existing clinic, device B joined it. Tampering is done on the
 * device database with a second connection, as an attacker holding the key would; a rolled-back
 * or rewritten server log is served through A's injected fetch.
 */
import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CanonicalValue, canonicalJson } from '../../shared/canonical-json.js';
import { chainHash } from '../../shared/audit-chain.js';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { formatCheckpoint, signCheckpoint } from '../../shared/merkle/checkpoint.js';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { deriveServerKeys } from '../../sync-server/auth/server-keys.js';
import { type AuditDevices, connectAuditDevices, localChain, withRawDatabase } from './audit-devices.js';
import { type ListeningServer, startListeningServer } from './sync-support.js';

let server: ListeningServer;
let devices: AuditDevices;

beforeEach(async () => {
  server = await startListeningServer();
  devices = await connectAuditDevices(server);
});
afterEach(async () => {
  await devices.close();
  await server.close();
});

async function roundA() {
  return devices.a.asAdmin('sync.now', {});
}

async function roundB() {
  return devices.b.admin.ok('sync.now', {});
}

async function serverEntries() {
  const store = await server.storage.clinic(devices.serverClinicId);
  const entries = [];
  for (let after = 0; ;) {
    const page = await store.listAuditEntries({ after, limit: 1000 });
    entries.push(...page.entries);
    if (!page.hasMore) return entries;
    after = page.cursor;
  }
}

async function securityEvents() {
  const store = await server.storage.clinic(devices.serverClinicId);
  return (await store.listSecurityEvents({ after: 0, limit: 1000 })).events;
}

/** Writes audited actions on A (each patients.create appends an entry). */
async function writeOnA(count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await devices.a.asAdmin('patients.create', {
      branchId: devices.a.branchId,
      firstName: `Ravi${i}`,
      lastName: 'Kumar',
      phone: `98450 3000${i}`,
    });
  }
}

/** Lets a raw connection change the append-only audit log, as an attacker with the key could. */
function dropAuditTriggers(db: Database.Database): void {
  db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
}

describe('device audit push', () => {
  it('pushes both devices’ chains so the clinic log holds exactly the entries they acknowledged', async () => {
    await writeOnA(3);
    await roundA();
    await roundB();
    await roundA();

    const chainA = await localChain(devices.a.dataDir);
    const chainB = await localChain(devices.b.dataDir);
    const stored = await serverEntries();
    const byDevice = (deviceId: string) =>
      stored.filter((entry) => entry.deviceId === deviceId).map(({ epoch, seq, hash }) => ({ epoch, seq, hash }));
    // The server holds each device's chain up to what the device recorded as acknowledged, identically.
    expect(byDevice(chainA.deviceId)).toEqual(chainA.entries.filter((entry) => entry.seq <= chainA.accepted));
    expect(byDevice(chainB.deviceId)).toEqual(chainB.entries.filter((entry) => entry.seq <= chainB.accepted));
    expect(stored).toHaveLength(chainA.accepted + chainB.accepted);
    expect(chainA.accepted).toBeGreaterThan(10);
    // What is not pushed yet is only what the last round and its call wrote after pushing.
    const unpushedA = await withRawDatabase(devices.a.dataDir, (db) =>
      db.prepare('SELECT action FROM audit_log WHERE seq > ? ORDER BY seq').all(chainA.accepted),
    );
    expect(unpushedA).toEqual([{ action: 'sync.round' }, { action: 'sync.now' }]);
    expect(await serverLogSize()).toBe(stored.length);
  });

  it('pins the checkpoint key at enrollment and stores the latest checkpoint it verified', async () => {
    await roundA();
    const pin = await withRawDatabase(devices.a.dataDir, (db) =>
      db.prepare('SELECT origin, verifier_key, pinned_via, size, own_leaf_index FROM sync_checkpoint').get(),
    );
    const keys = server.server.keys;
    expect(pin).toEqual({
      origin: `chairside/clinic-audit/${devices.serverClinicId}`,
      verifier_key: formatEd25519VerifierKey(nodeSha256, keys.checkpointKeyName, keys.checkpointPublicKey),
      pinned_via: 'enrollment',
      size: await serverLogSize(),
      own_leaf_index: expect.any(Number),
    });
    // The pinned own leaf is one of A's entries.
    const ownLeaf = (pin as { own_leaf_index: number }).own_leaf_index;
    const { deviceId } = await localChain(devices.a.dataDir);
    expect((await serverEntries())[ownLeaf]!.deviceId).toBe(deviceId);
    const joined = await withRawDatabase(devices.b.dataDir, (db) =>
      db.prepare('SELECT pinned_via, verifier_key FROM sync_checkpoint').get(),
    );
    expect(joined).toEqual({ pinned_via: 'enrollment', verifier_key: (pin as { verifier_key: string }).verifier_key });
  });

  it('resumes after the server stored a push whose answer never arrived, without duplicates', async () => {
    await writeOnA(2);
    const acceptedBefore = (await localChain(devices.a.dataDir)).accepted;
    const storedBefore = (await serverEntries()).length;
    let dropped = 0;
    devices.aFetch.fault = async (url, init) => {
      const response = await fetch(url, init);
      if (init.method === 'POST' && url.endsWith('/v1/audit')) {
        dropped++;
        throw new TypeError('fetch failed');
      }
      return response;
    };
    const failed = await roundA();
    expect(failed.error).toBe('NETWORK');
    expect(dropped).toBeGreaterThan(0);
    // The server holds the entries; the device does not know it yet.
    expect((await localChain(devices.a.dataDir)).accepted).toBe(acceptedBefore);
    expect((await serverEntries()).length).toBeGreaterThan(storedBefore);

    devices.aFetch.fault = null;
    const resumed = await roundA();
    expect(resumed.error).toBeNull();
    const chainA = await localChain(devices.a.dataDir);
    const stored = (await serverEntries()).filter((entry) => entry.deviceId === chainA.deviceId);
    expect(stored.map(({ epoch, seq, hash }) => ({ epoch, seq, hash }))).toEqual(
      chainA.entries.filter((entry) => entry.seq <= chainA.accepted),
    );
    expect(new Set(stored.map((entry) => entry.seq)).size).toBe(stored.length);
  });
});

describe('a tampered chain', () => {
  async function expectRefused(reason: 'edited' | 'gap' | 'fork'): Promise<void> {
    const round = await roundA();
    expect(round.error).toBe('AUDIT_CHAIN_REJECTED');
    const status = await devices.a.asAdmin('sync.status', {});
    expect(status.lastError).toBe('AUDIT_CHAIN_REJECTED');
    // Raised on the server as a security event with the reason, and on the device in its audit trail.
    const events = await securityEvents();
    expect(
      events.filter((event) => event.kind === 'audit.chain_rejected').map((event) => event.details.reason),
    ).toEqual([reason]);
    const refusals = await withRawDatabase(devices.a.dataDir, (db) =>
      db.prepare("SELECT body FROM audit_log WHERE action = 'sync.auditChainRefused'").all(),
    );
    expect(refusals).toHaveLength(1);
    expect(JSON.parse((refusals[0] as { body: string }).body).details.code).toBe('AUDIT_CHAIN_REJECTED');

    // The refused chain is not pushed again round after round, and the error stays shown.
    let pushes = 0;
    devices.aFetch.fault = (url, init) => {
      if (url.endsWith('/v1/audit') && init.method === 'POST') pushes++;
      return fetch(url, init);
    };
    expect((await roundA()).error).toBe('AUDIT_CHAIN_REJECTED');
    expect(pushes).toBe(0);
    expect(await securityEvents()).toHaveLength(events.length);
  }

  it('refuses an edited entry and raises it on both sides', async () => {
    await roundA();
    const { accepted } = await localChain(devices.a.dataDir);
    await writeOnA(2);
    await withRawDatabase(devices.a.dataDir, (db) => {
      dropAuditTriggers(db);
      const row = db.prepare('SELECT id, body FROM audit_log WHERE seq = ?').get(accepted + 2) as {
        id: number;
        body: string;
      };
      const body = JSON.parse(row.body) as Record<string, unknown>;
      db.prepare('UPDATE audit_log SET body = ? WHERE id = ?').run(
        canonicalJson({ ...body, outcome: 'denied' } as CanonicalValue),
        row.id,
      );
    });
    await expectRefused('edited');
  });

  it('refuses a chain with a dropped entry', async () => {
    await roundA();
    const { accepted } = await localChain(devices.a.dataDir);
    await writeOnA(2);
    await withRawDatabase(devices.a.dataDir, (db) => {
      dropAuditTriggers(db);
      db.prepare('DELETE FROM audit_log WHERE seq = ?').run(accepted + 2);
    });
    await expectRefused('gap');
  });

  it('refuses a forked chain that no longer links to what the server holds', async () => {
    await roundA();
    const { accepted } = await localChain(devices.a.dataDir);
    await writeOnA(2);
    // A self-consistent rewrite from the first unpushed entry on: every hash matches its body,
    // but the first no longer continues the chain the server accepted.
    await withRawDatabase(devices.a.dataDir, (db) => {
      dropAuditTriggers(db);
      const rows = db.prepare('SELECT id, body FROM audit_log WHERE seq > ? ORDER BY seq').all(accepted) as Array<{
        id: number;
        body: string;
      }>;
      let prev = randomBytes(32).toString('hex');
      for (const row of rows) {
        const hash = chainHash(nodeSha256, prev, row.body);
        db.prepare('UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?').run(prev, hash, row.id);
        prev = hash;
      }
    });
    await expectRefused('fork');
  });
});

describe('checkpoint pinning', () => {
  /** The checkpoint answer the server would give for a log of `size` leaves with `root`, signed by `keys`. */
  function forgedCheckpoint(size: number, root: Uint8Array, keys = server.server.keys) {
    const text = formatCheckpoint({ origin: `chairside/clinic-audit/${devices.serverClinicId}`, size, rootHash: root });
    const note = signCheckpoint(
      text,
      keys.checkpointKeyName,
      keys.checkpointPublicKey,
      keys.signCheckpoint,
      nodeSha256,
    );
    return { size, rootHash: encodeBase64(root), note };
  }

  /**
   * Serves `answer(size)` for GET /v1/audit/checkpoint, where size is the size of the checkpoint
   * the last push answered with; everything else goes to the real server.
   */
  function serveCheckpoint(answer: (pushedSize: number) => unknown): void {
    let pushedSize = 0;
    devices.aFetch.fault = async (url, init) => {
      if (init.method === 'GET' && url.endsWith('/v1/audit/checkpoint')) {
        return new Response(JSON.stringify(answer(pushedSize)), { headers: { 'content-type': 'application/json' } });
      }
      const response = await fetch(url, init);
      if (init.method === 'POST' && url.endsWith('/v1/audit') && response.ok) {
        pushedSize = ((await response.clone().json()) as { checkpoint: { size: number } }).checkpoint.size;
      }
      return response;
    };
  }

  async function expectServerRefused(reason: string): Promise<void> {
    // A log smaller than the pinned one lost entries this device saw; anything else no longer extends it.
    const code = reason === 'rollback' ? 'SERVER_LOG_LOST_ENTRIES' : 'SERVER_LOG_INCONSISTENT';
    const round = await roundA();
    expect(round.error).toBe(code);
    expect((await devices.a.asAdmin('sync.status', {})).lastError).toBe(code);
    const recorded = await withRawDatabase(devices.a.dataDir, (db) => ({
      refused: db.prepare('SELECT refused_reason FROM sync_checkpoint').get(),
      entries: (
        db.prepare("SELECT body FROM audit_log WHERE action = 'sync.serverLogRefused'").all() as Array<{ body: string }>
      ).map((row) => JSON.parse(row.body) as { outcome: string; purpose: string; details: { reason: string } }),
    }));
    expect(recorded.refused).toEqual({ refused_reason: reason });
    expect(recorded.entries).toHaveLength(1);
    expect(recorded.entries[0]).toMatchObject({ outcome: 'error', purpose: 'security', details: { reason } });

    // The device no longer talks to that server at all, even once it answers honestly again.
    let requests = 0;
    devices.aFetch.fault = (url, init) => {
      requests++;
      return fetch(url, init);
    };
    expect((await roundA()).error).toBe(code);
    expect(requests).toBe(0);
  }

  it('detects a server log rolled back to an older checkpoint', async () => {
    await roundA();
    const store = await server.storage.clinic(devices.serverClinicId);
    const older = (await store.latestCheckpoint())!;
    await writeOnA(2);
    await roundA();
    serveCheckpoint(() => ({ size: older.size, rootHash: encodeBase64(older.rootHash), note: older.note }));
    await expectServerRefused('rollback');
  });

  it('detects a different root for a size it already verified', async () => {
    await roundA();
    serveCheckpoint((size) => forgedCheckpoint(size, randomBytes(32)));
    await expectServerRefused('root-changed');
  });

  it('detects a larger log that cannot prove it extends the verified one', async () => {
    await roundA();
    serveCheckpoint((size) => forgedCheckpoint(size + 1, randomBytes(32)));
    await expectServerRefused('consistency');
  });

  it('refuses a checkpoint signed by another key', async () => {
    await roundA();
    const otherKeys = deriveServerKeys(randomBytes(32));
    // The real root of the real size: only the signing key differs.
    const store = await server.storage.clinic(devices.serverClinicId);
    const latest = (await store.latestCheckpoint())!;
    serveCheckpoint(() => forgedCheckpoint(latest.size, latest.rootHash, otherKeys));
    await expectServerRefused('signature');
  });

  it('detects its own entry’s leaf replaced in a log that is otherwise served as signed', async () => {
    await roundA();
    devices.aFetch.fault = async (url, init) => {
      const response = await fetch(url, init);
      if (!url.includes('/v1/audit/proof/inclusion')) return response;
      const proof = (await response.json()) as { leafHash: string };
      return new Response(JSON.stringify({ ...proof, leafHash: encodeBase64(randomBytes(32)) }), {
        headers: { 'content-type': 'application/json' },
      });
    };
    await expectServerRefused('own-leaf-changed');
  });

  it('pins the first checkpoint it sees on a device connected before checkpoints were pinned', async () => {
    await withRawDatabase(devices.a.dataDir, (db) => db.prepare('DELETE FROM sync_checkpoint').run());
    expect((await roundA()).error).toBeNull();
    const pin = await withRawDatabase(devices.a.dataDir, (db) =>
      db.prepare('SELECT pinned_via, verifier_key, size FROM sync_checkpoint').get(),
    );
    expect(pin).toEqual({ pinned_via: 'first-contact', verifier_key: null, size: await serverLogSize() });
    // Held to consistency from then on: a rollback is still detected.
    await writeOnA(1);
    const store = await server.storage.clinic(devices.serverClinicId);
    const older = (await store.latestCheckpoint())!;
    await roundA();
    serveCheckpoint(() => ({ size: older.size, rootHash: encodeBase64(older.rootHash), note: older.note }));
    await expectServerRefused('rollback');
  });
});

async function serverLogSize(): Promise<number> {
  return (await server.storage.clinic(devices.serverClinicId)).auditLogSize();
}
