import type Database from 'better-sqlite3-multiple-ciphers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../../shared/audit-chain.js';
import { type TestClinic, createTestClinic } from '../../../test/support/clinic-fixture.js';
import { openRawDatabase } from '../../../test/support/raw-database.js';
import { ReadDb } from '../db/access.js';
import { nodeSha256 } from '../platform/node-hashing.js';
import { AuditLog, type DeviceIdentity } from './audit-log.js';

let clinic: TestClinic;
let raw: Database.Database;
let device: DeviceIdentity;
const log = new AuditLog(nodeSha256, () => 0);

/** Verifies the chain as stored now. */
const verifyNow = () => log.verify(new ReadDb(raw), device);
/** Lets a test modify the log as someone bypassing the app would. */
const dropGuards = () => raw.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');

beforeEach(async () => {
  clinic = await createTestClinic();
  const dentist = await clinic.signedInUser('Dentist');
  for (const firstName of ['Ana', 'Bela', 'Chandra', 'Dev']) {
    const patient = await dentist.ok('patients.create', { branchId: clinic.branchId, firstName, lastName: 'Rao' });
    await dentist.ok('patients.get', { patientId: patient.id });
  }
  raw = await openRawDatabase(clinic.dataDir);
  const row = raw.prepare('SELECT id, epoch FROM device').get() as { id: string; epoch: number };
  device = { deviceId: row.id, epoch: row.epoch };
});

afterEach(async () => {
  raw.close();
  await clinic.close();
});

describe('audit chain verification', () => {
  it('accepts the untouched chain of a working clinic', () => {
    const result = verifyNow();
    expect(result).toMatchObject({ ok: true });
    expect(result.entries).toBeGreaterThan(10);
  });

  // Every field of an entry lives in its hashed body; the other columns are generated from it.
  const bodyEdits: Array<[string, string]> = [
    ['time', "json_set(body, '$.time', json_extract(body, '$.time') + 1)"],
    ['userId', "json_set(body, '$.userId', '01HZZZZZZZZZZZZZZZZZZZZZZZ')"],
    ['role', "json_set(body, '$.role', 'Admin')"],
    ['action', "json_set(body, '$.action', 'patients.search')"],
    ['entityType', "json_set(body, '$.entityType', 'user')"],
    ['entityId', "json_set(body, '$.entityId', 'someone-else')"],
    ['outcome', "json_set(body, '$.outcome', 'denied')"],
    ['purpose', "json_set(body, '$.purpose', 'audit')"],
    ['legalBasis', "json_set(body, '$.legalBasis', 'contract')"],
    ['details', "json_set(body, '$.details.extra', 1)"],
    ['v', "json_set(body, '$.v', 2)"],
  ];
  for (const [field, expression] of bodyEdits) {
    it(`detects an edited ${field} and reports its sequence`, () => {
      dropGuards();
      const changed = raw.prepare(`UPDATE audit_log SET body = ${expression} WHERE seq = 7`).run();
      expect(changed.changes).toBe(1);
      expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 7 });
    });
  }

  for (const [column, expression] of [
    ['prev_hash', "'00' || substr(prev_hash, 3)"],
    ['hash', "'00' || substr(hash, 3)"],
  ]) {
    it(`detects an edited ${column} and reports its sequence`, () => {
      dropGuards();
      raw.prepare(`UPDATE audit_log SET ${column} = ${expression} WHERE seq = 7`).run();
      expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 7 });
    });
  }

  it('detects an entry moved to another device or epoch', () => {
    dropGuards();
    raw.prepare("UPDATE audit_log SET body = json_set(body, '$.deviceId', 'another-device') WHERE seq = 7").run();
    expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 7 });
  });

  it('cannot store a column that disagrees with the hashed body: derived columns are not writable', () => {
    dropGuards();
    for (const column of ['action', 'user_id', 'outcome', 'entity_id', 'time', 'seq', 'device_id']) {
      expect(() => raw.prepare(`UPDATE audit_log SET ${column} = NULL WHERE seq = 7`).run(), column).toThrow(
        /generated column/,
      );
    }
  });

  it('detects an edited entry whose hash was recomputed, at the next link', () => {
    dropGuards();
    const row = raw.prepare('SELECT prev_hash, body FROM audit_log WHERE seq = 5').get() as {
      prev_hash: string;
      body: string;
    };
    const body = row.body.replace('"outcome":"success"', '"outcome":"error"');
    const hash = Buffer.from(nodeSha256(Buffer.from(row.prev_hash, 'hex'), body)).toString('hex');
    raw.prepare('UPDATE audit_log SET body = ?, hash = ? WHERE seq = 5').run(body, hash);
    expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 6 });
  });

  it('detects a deleted entry', () => {
    dropGuards();
    raw.prepare('DELETE FROM audit_log WHERE seq = 4').run();
    expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 4 });
  });

  it('detects reordered entries', () => {
    dropGuards();
    // Swap the stored order of entries 3 and 4 (each keeps its own body and hashes).
    const rowOf = raw.prepare('SELECT id, body, prev_hash, hash FROM audit_log WHERE seq = ?');
    const third = rowOf.get(3) as { id: number; body: string; prev_hash: string; hash: string };
    const fourth = rowOf.get(4) as { id: number; body: string; prev_hash: string; hash: string };
    const put = raw.prepare('UPDATE audit_log SET body = ?, prev_hash = ?, hash = ? WHERE id = ?');
    raw.transaction(() => {
      // Park entry 3 on a free sequence so the unique key allows the swap.
      raw.prepare("UPDATE audit_log SET body = json_set(body, '$.seq', -1) WHERE id = ?").run(third.id);
      put.run(third.body, third.prev_hash, third.hash, fourth.id);
      put.run(fourth.body, fourth.prev_hash, fourth.hash, third.id);
    })();
    expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 3 });
  });

  it('detects an inserted entry', () => {
    dropGuards();
    // Renumber entries from 6 on, then slip a forged entry 6 in, chained to entry 5.
    raw.exec("UPDATE audit_log SET body = json_set(body, '$.seq', seq + 1000) WHERE seq >= 6");
    raw.exec("UPDATE audit_log SET body = json_set(body, '$.seq', seq - 999) WHERE seq >= 1006");
    const five = raw.prepare('SELECT body, hash FROM audit_log WHERE seq = 5').get() as { body: string; hash: string };
    const forged = five.body.replace('"seq":5', '"seq":6');
    const forgedHash = Buffer.from(nodeSha256(Buffer.from(five.hash, 'hex'), forged)).toString('hex');
    raw.prepare('INSERT INTO audit_log (body, prev_hash, hash) VALUES (?, ?, ?)').run(forged, five.hash, forgedHash);
    expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: 6 });
  });

  it('detects a truncated tail against the recorded head', () => {
    dropGuards();
    const { head } = raw.prepare('SELECT max(seq) AS head FROM audit_log').get() as { head: number };
    raw.prepare('DELETE FROM audit_log WHERE seq > ?').run(head - 2);
    expect(verifyNow()).toMatchObject({ ok: false, firstBadSeq: head - 1 });
  });

  it('detects a truncation that also rewrote the recorded head, given a head witnessed earlier', () => {
    const witnessed = raw.prepare('SELECT seq, hash FROM audit_head').get() as { seq: number; hash: string };
    dropGuards();
    raw.prepare('DELETE FROM audit_log WHERE seq > ?').run(witnessed.seq - 3);
    raw
      .prepare('UPDATE audit_head SET seq = seq - 3, hash = (SELECT hash FROM audit_log WHERE seq = ?)')
      .run(witnessed.seq - 3);
    // Locally consistent again: only an external witness (the sync server, issue #4) can tell.
    expect(verifyNow()).toMatchObject({ ok: true });
    const rows = raw
      .prepare('SELECT seq, body, prev_hash AS prevHash, hash FROM audit_log ORDER BY seq')
      .all() as Array<{
      seq: number;
      body: string;
      prevHash: string;
      hash: string;
    }>;
    const genesis = rows[0]!.prevHash;
    expect(verifyAuditChain(nodeSha256, genesis, rows, { knownHead: witnessed })).toMatchObject({
      ok: false,
      firstBadSeq: witnessed.seq - 2,
    });
  });

  it('refuses UPDATE and DELETE on audit entries through the app database', () => {
    expect(() => raw.prepare("UPDATE audit_log SET body = body || ' ' WHERE seq = 1").run()).toThrow(/append-only/);
    expect(() => raw.prepare('DELETE FROM audit_log WHERE seq = 1').run()).toThrow(/append-only/);
  });
});

describe('audit write failure', () => {
  it('aborts a write: when the audit entry cannot be written, the patient is not created', async () => {
    const receptionist = await clinic.signedInUser('Receptionist');
    const before = (raw.prepare('SELECT count(*) AS n FROM patients').get() as { n: number }).n;
    raw.exec("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    const result = await receptionist.call('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Nina',
      lastName: 'Lost',
    });
    expect(result).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect((raw.prepare('SELECT count(*) AS n FROM patients').get() as { n: number }).n).toBe(before);
    expect(raw.prepare("SELECT count(*) AS n FROM patients_fts WHERE patients_fts MATCH 'nina'").get()).toEqual({
      n: 0,
    });
  });

  it('aborts a read: when the audit entry cannot be written, no patient data is returned', async () => {
    const dentist = await clinic.signedInUser('Dentist');
    const patient = await dentist.ok('patients.create', {
      branchId: clinic.branchId,
      firstName: 'Omar',
      lastName: 'Read',
    });
    raw.exec("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
    const result = await dentist.call('patients.get', { patientId: patient.id });
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain('Omar');
  });
});

describe('audit epochs', () => {
  it('continues the chain in a new epoch after a restore, never reusing sequence numbers', async () => {
    raw.close();
    const dataDir = clinic.dataDir;
    const headBefore = (await clinic.asAdmin('audit.verify', {})).headSeq;
    await clinic.core.close();
    const { ClinicCore } = await import('../clinic-core.js');
    const { testKeyProvider } = await import('../../../test/support/clinic-fixture.js');
    const reopened = await ClinicCore.open({
      dataDir,
      keyProvider: testKeyProvider(),
      bcryptCost: 4,
      startNewAuditEpoch: { reason: 'restored-backup' },
    });
    try {
      raw = await openRawDatabase(dataDir);
      const epochs = raw
        .prepare('SELECT epoch, min(seq) AS first, max(seq) AS last FROM audit_log GROUP BY epoch')
        .all();
      expect(epochs).toEqual([
        { epoch: 1, first: 1, last: expect.any(Number) },
        { epoch: 2, first: 1, last: 1 },
      ]);
      const firstOfNew = raw.prepare('SELECT body FROM audit_log WHERE epoch = 2 AND seq = 1').get() as {
        body: string;
      };
      expect(JSON.parse(firstOfNew.body).details).toMatchObject({ reason: 'restored-backup', previousEpoch: 1 });
      expect(headBefore).not.toBeNull();
      const result = log.verify(new ReadDb(raw), { deviceId: device.deviceId, epoch: 2 });
      expect(result).toMatchObject({ ok: true, epoch: 2 });
      // Tampering in the old epoch is still found.
      dropGuards();
      raw.prepare("UPDATE audit_log SET body = json_set(body, '$.action', 'x') WHERE epoch = 1 AND seq = 2").run();
      expect(log.verify(new ReadDb(raw), { deviceId: device.deviceId, epoch: 2 })).toMatchObject({
        ok: false,
        epoch: 1,
        firstBadSeq: 2,
      });
    } finally {
      await reopened.close();
    }
  });
});
