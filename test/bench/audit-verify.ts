/**
 * Measurement 4: the audit chain. Appends N entries through AuditLog.append (in transactions of
 * 5,000, to a database opened as the app opens it, with the app's migrations), then reopens the
 * database and times AuditLog.verify over the whole chain several times. The entries look like
 * the pipeline's: reads and writes of patients, sign-ins, a few denials, details without patient data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AuditLog, type AuditEntryInput, type DeviceIdentity } from '../../main/core/audit/audit-log.js';
import { WriteDb } from '../../main/core/db/access.js';
import { openEncryptedDatabase } from '../../main/core/db/encrypted-database.js';
import { migrate } from '../../main/core/db/migrate.js';
import { migrations } from '../../main/core/db/migrations/index.js';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import type { BenchConfig } from './config.js';
import { SeededRandom, seededUlid } from '../../main/demo/prng.js';
import type { BenchRow } from './report.js';
import { median } from './stats.js';
import { elapsedMs } from './timing.js';

const SECTION = '4 audit chain';
const VERIFY_TARGET = 200_000;
const BATCH = 5000;
const START = Date.UTC(2026, 0, 5, 9, 0, 0);

/** A plausible entry: who did what to which entity; never patient data. */
function entryFor(random: SeededRandom, users: readonly string[], patients: readonly string[]): AuditEntryInput {
  const roll = random.next();
  const userId = random.pick(users);
  const patient = { entityType: 'patient', purpose: 'treatment', legalBasis: 'healthcare' } as const;
  if (roll < 0.45) {
    return {
      userId,
      role: 'Dentist',
      action: 'patients.get',
      ...patient,
      entityId: random.pick(patients),
      outcome: 'success',
      details: { medicalHistory: true },
    };
  }
  if (roll < 0.75) {
    return {
      userId,
      role: 'Receptionist',
      action: 'patients.search',
      ...patient,
      entityId: null,
      outcome: 'success',
      details: { kind: 'name', results: random.int(21) },
    };
  }
  if (roll < 0.9) {
    return {
      userId,
      role: 'Receptionist',
      action: 'patients.update',
      ...patient,
      entityId: random.pick(patients),
      outcome: 'success',
      details: { changed: 'phone,email' },
    };
  }
  if (roll < 0.98) {
    return {
      userId,
      role: 'Dentist',
      action: 'auth.signIn',
      entityType: 'session',
      entityId: userId,
      outcome: 'success',
      purpose: 'security',
      legalBasis: 'security',
      details: {},
    };
  }
  return {
    userId,
    role: 'Staff',
    action: 'patients.get',
    ...patient,
    entityId: random.pick(patients),
    outcome: 'denied',
    details: { code: 'FORBIDDEN' },
  };
}

/** Appends the entries, then times verification; returns the append and verify rates. */
export function measureAuditChain(config: BenchConfig, progress: (message: string) => void): BenchRow[] {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-bench-audit-'));
  const path = join(dir, 'clinic.db');
  const key = randomBytes(32);
  const random = new SeededRandom(`${config.seed}:audit`);
  const users = Array.from({ length: 12 }, (_, i) => seededUlid(random, START - i));
  const patients = Array.from({ length: 5000 }, (_, i) => seededUlid(random, START - 10_000 + i));
  const device: DeviceIdentity = { deviceId: seededUlid(random, START), epoch: 1 };
  let clock = START;
  const audit = new AuditLog(nodeSha256, () => clock);
  try {
    let raw = openEncryptedDatabase(path, key, { create: true });
    let db = new WriteDb(raw);
    migrate(db, migrations, () => START);
    const appendStart = process.hrtime.bigint();
    for (let from = 0; from < config.auditEntries; from += BATCH) {
      db.transaction(() => {
        for (let i = from; i < Math.min(from + BATCH, config.auditEntries); i++) {
          clock += random.int(4000);
          audit.append(db, device, entryFor(random, users, patients));
        }
      });
    }
    const appendMs = elapsedMs(appendStart);
    raw.close();
    progress(`  appended ${config.auditEntries} audit entries in ${(appendMs / 1000).toFixed(1)} s`);

    raw = openEncryptedDatabase(path, key, { create: false });
    db = new WriteDb(raw);
    const verifyMs: number[] = [];
    for (let run = 0; run < config.auditVerifyRuns; run++) {
      const start = process.hrtime.bigint();
      const result = audit.verify(db, device);
      verifyMs.push(elapsedMs(start));
      if (!result.ok || result.entries !== config.auditEntries) {
        throw new Error(`audit chain did not verify: ${JSON.stringify(result)}`);
      }
    }
    // The floor under any verifier: SQLite alone reading (and decrypting) every chained row.
    const scanStart = process.hrtime.bigint();
    raw
      .prepare(
        'SELECT count(*), sum(length(body) + length(prev_hash) + length(hash)) FROM audit_log WHERE device_id = ? AND epoch = ?',
      )
      .get(device.deviceId, device.epoch);
    const scanMs = elapsedMs(scanStart);
    const databaseMiB =
      (Number(raw.pragma('page_count', { simple: true })) * Number(raw.pragma('page_size', { simple: true }))) /
      2 ** 20;
    raw.close();
    const rates = verifyMs.map((ms) => config.auditEntries / (ms / 1000));
    return [
      {
        section: SECTION,
        name: `append ${config.auditEntries.toLocaleString('en-US')} entries (AuditLog.append, ${BATCH} per transaction)`,
        value: config.auditEntries / (appendMs / 1000),
        unit: 'entries/s',
        note: `${(appendMs / 1000).toFixed(2)} s, ${((appendMs * 1000) / config.auditEntries).toFixed(2)} µs/entry`,
      },
      {
        section: SECTION,
        name: `verify ${config.auditEntries.toLocaleString('en-US')} entries (AuditLog.verify), median of ${verifyMs.length}`,
        value: median(rates),
        unit: 'entries/s',
        target: { comparator: '>=', threshold: VERIFY_TARGET },
        note: `runs: ${verifyMs.map((ms) => `${(ms / 1000).toFixed(2)} s`).join(', ')} (first run on a freshly opened connection)`,
      },
      {
        section: SECTION,
        name: 'SQLite-only scan of the chain rows (read + decrypt floor)',
        value: config.auditEntries / (scanMs / 1000),
        unit: 'entries/s',
        note: `${(scanMs / 1000).toFixed(2)} s; database ${databaseMiB.toFixed(0)} MiB vs a 64 MiB page cache`,
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
