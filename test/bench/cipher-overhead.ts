/**
 * Measurement 3: the cost of SQLCipher. The same workload runs on two databases made with
 * better-sqlite3-multiple-ciphers and the app's real schema (its migrations): one opened exactly
 * as the app opens it (openEncryptedDatabase: raw 32-byte key, cipher=sqlcipher, legacy=4, WAL,
 * 64 MiB page cache), one plain with the same connection pragmas. Both use synchronous=NORMAL for
 * the bulk insert. Each round uses fresh files and alternates which database goes first; the
 * reported ratio (encrypted / plain) is the median over rounds.
 *   writes: bulk insert of N patients (row + FTS entry), 1,000 rows per transaction;
 *   point reads: random ids by primary key on a freshly opened connection (first touches decrypt
 *     pages), then the same number again once the page cache is warm;
 *   FTS search: the app's search query (name prefixes and full names, ranked, limit 20);
 *   index range scan: 500 consecutive patients by patient number (unique index + row lookups).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3-multiple-ciphers';
import { WriteDb } from '../../main/core/db/access.js';
import { applyConnectionSettings, openEncryptedDatabase } from '../../main/core/db/encrypted-database.js';
import { migrate } from '../../main/core/db/migrate.js';
import { migrations } from '../../main/core/db/migrations/index.js';
import { indexPatient, searchPatients } from '../../main/core/patients/patient-search.js';
import type { BenchConfig } from './config.js';
import { SeededRandom } from '../../main/demo/prng.js';
import type { BenchRow } from './report.js';
import { median, summarize } from './stats.js';
import { type SyntheticPatient, generatePatients } from '../../main/demo/synthetic-patients.js';
import { elapsedMs } from './timing.js';

const SECTION = '3 SQLCipher vs plain';
const READ_TARGET = 1.25;
const WRITE_TARGET = 1.8;
const BATCH = 1000;
const NOW = Date.UTC(2026, 0, 5, 9, 0, 0);

type Kind = 'encrypted' | 'plain';

function open(kind: Kind, path: string, key: Buffer, create: boolean): Database.Database {
  if (kind === 'encrypted') return openEncryptedDatabase(path, key, { create });
  const db = new Database(path, { fileMustExist: !create });
  // The same settings as the app's connection, so the two differ only in encryption.
  applyConnectionSettings(db, 64);
  return db;
}

/** Times of one database in one round, in ms. */
interface RoundTimes {
  insertMs: number;
  coldReadMs: number;
  warmReadMs: number;
  ftsMs: number;
  rangeMs: number;
  readSamples: number[];
}

interface Workload {
  readonly patients: readonly SyntheticPatient[];
  readonly readIds: readonly string[];
  readonly searches: readonly string[];
  readonly rangeStarts: readonly string[];
}

function buildWorkload(config: BenchConfig): Workload {
  const patients = generatePatients(config.cipherRows, `${config.seed}:cipher`, NOW - 400 * 86_400_000);
  const random = new SeededRandom(`${config.seed}:cipher-reads`);
  const readIds = Array.from({ length: config.cipherReads }, () => random.pick(patients).id);
  const searches = Array.from({ length: 200 }, (_, i) => {
    const patient = random.pick(patients);
    return i % 2 === 0 ? patient.lastName.slice(0, 2) : `${patient.firstName} ${patient.lastName}`;
  });
  const rangeStarts = Array.from({ length: 200 }, () => random.pick(patients).patientNumber);
  return { patients, readIds, searches, rangeStarts };
}

/** Creates, fills and closes one database; returns the insert time. */
function createAndInsert(kind: Kind, path: string, key: Buffer, workload: Workload): number {
  const raw = open(kind, path, key, true);
  try {
    const db = new WriteDb(raw);
    migrate(db, migrations, () => NOW);
    db.command('INSERT INTO branches (id, name, created_at) VALUES (?, ?, ?)').run([
      '01JBENCHBRANCH000000000000',
      'Main',
      NOW,
    ]);
    db.setSynchronous('NORMAL');
    const insert = db.command(
      `INSERT INTO patients (id, patient_number, branch_id, first_name, last_name, date_of_birth, sex, phone, email,
         address, created_at, created_by, updated_at, updated_by)
       VALUES (@id, @patientNumber, '01JBENCHBRANCH000000000000', @firstName, @lastName, @dateOfBirth, @sex, @phone,
         @email, NULL, ${NOW}, 'bench', ${NOW}, 'bench')`,
    );
    const start = process.hrtime.bigint();
    for (let from = 0; from < workload.patients.length; from += BATCH) {
      db.transaction(() => {
        for (const patient of workload.patients.slice(from, from + BATCH)) {
          const { medical: _medical, ...columns } = patient;
          const { lastInsertRowid } = insert.run(columns);
          indexPatient(db, lastInsertRowid, patient);
        }
      });
    }
    return elapsedMs(start);
  } finally {
    raw.close();
  }
}

function reopen(kind: Kind, path: string, key: Buffer): Database.Database {
  const db = open(kind, path, key, false);
  db.pragma('synchronous = NORMAL');
  return db;
}

function pointReads(db: Database.Database, ids: readonly string[], samples: number[] | null): number {
  const statement = db.prepare<[string], { id: string }>('SELECT * FROM patients WHERE id = ?');
  const start = process.hrtime.bigint();
  for (const id of ids) {
    if (samples) {
      const one = process.hrtime.bigint();
      if (!statement.get(id)) throw new Error('missing row');
      samples.push(Number(process.hrtime.bigint() - one) / 1e6);
    } else if (!statement.get(id)) {
      throw new Error('missing row');
    }
  }
  return elapsedMs(start);
}

function readPhases(db: Database.Database, workload: Workload): Omit<RoundTimes, 'insertMs'> {
  const readSamples: number[] = [];
  const coldReadMs = pointReads(db, workload.readIds, null);
  const warmReadMs = pointReads(db, workload.readIds, readSamples);
  const readDb = new WriteDb(db);
  const options = { limit: 20, includeArchived: false, branchIds: null };
  let start = process.hrtime.bigint();
  for (const query of workload.searches) searchPatients(readDb, query, options);
  const ftsMs = elapsedMs(start);
  const range = db.prepare<[string], unknown>(
    'SELECT * FROM patients WHERE patient_number >= ? ORDER BY patient_number LIMIT 500',
  );
  start = process.hrtime.bigint();
  for (const from of workload.rangeStarts) range.all(from);
  const rangeMs = elapsedMs(start);
  return { coldReadMs, warmReadMs, ftsMs, rangeMs, readSamples };
}

/** Runs the rounds and reports the median encrypted/plain ratios. */
export function measureCipherOverhead(config: BenchConfig, progress: (message: string) => void): BenchRow[] {
  const workload = buildWorkload(config);
  const key = randomBytes(32);
  const rounds: Array<Record<Kind, RoundTimes>> = [];
  for (let round = 0; round < config.cipherRounds; round++) {
    const dir = mkdtempSync(join(tmpdir(), 'chairside-bench-cipher-'));
    try {
      const order: Kind[] = round % 2 === 0 ? ['encrypted', 'plain'] : ['plain', 'encrypted'];
      const paths: Record<Kind, string> = { encrypted: join(dir, 'encrypted.db'), plain: join(dir, 'plain.db') };
      const insertMs: Partial<Record<Kind, number>> = {};
      for (const kind of order) insertMs[kind] = createAndInsert(kind, paths[kind], key, workload);
      const times: Partial<Record<Kind, RoundTimes>> = {};
      for (const kind of order) {
        const db = reopen(kind, paths[kind], key);
        try {
          times[kind] = { insertMs: insertMs[kind]!, ...readPhases(db, workload) };
        } finally {
          db.close();
        }
      }
      rounds.push({ encrypted: times.encrypted!, plain: times.plain! });
      progress(`  cipher round ${round + 1}/${config.cipherRounds} done`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return cipherRows(config, workload, rounds);
}

function cipherRows(config: BenchConfig, workload: Workload, rounds: Array<Record<Kind, RoundTimes>>): BenchRow[] {
  const ratio = (pick: (times: RoundTimes) => number) =>
    median(rounds.map((round) => pick(round.encrypted) / pick(round.plain)));
  const perUnit = (kind: Kind, pick: (times: RoundTimes) => number, count: number) =>
    (median(rounds.map((round) => pick(round[kind]))) / count) * 1000;
  const describe = (pick: (times: RoundTimes) => number, count: number, label: string) =>
    `per ${label}: encrypted ${perUnit('encrypted', pick, count).toFixed(2)} µs, plain ${perUnit('plain', pick, count).toFixed(2)} µs; ` +
    `round ratios ${rounds.map((round) => (pick(round.encrypted) / pick(round.plain)).toFixed(2)).join(' ')}`;
  const rows = config.cipherRows;
  const reads = workload.readIds.length;
  const insert = (times: RoundTimes) => times.insertMs;
  const cold = (times: RoundTimes) => times.coldReadMs;
  const warm = (times: RoundTimes) => times.warmReadMs;
  const fts = (times: RoundTimes) => times.ftsMs;
  const range = (times: RoundTimes) => times.rangeMs;
  const warmEncrypted = summarize(rounds.flatMap((round) => round.encrypted.readSamples));
  const warmPlain = summarize(rounds.flatMap((round) => round.plain.readSamples));
  return [
    {
      section: SECTION,
      name: `writes: bulk insert ${rows.toLocaleString('en-US')} patients + FTS`,
      value: ratio(insert),
      unit: 'x',
      target: { comparator: '<=', threshold: WRITE_TARGET },
      note: describe(insert, rows, 'row'),
    },
    {
      section: SECTION,
      name: `reads: ${reads.toLocaleString('en-US')} point reads, fresh connection`,
      value: ratio(cold),
      unit: 'x',
      target: { comparator: '<=', threshold: READ_TARGET },
      note: describe(cold, reads, 'read'),
    },
    {
      section: SECTION,
      name: `reads: point reads, warm 64 MiB cache`,
      value: ratio(warm),
      unit: 'x',
      target: { comparator: '<=', threshold: READ_TARGET },
      note: `${describe(warm, reads, 'read')}; per-read p50/p95 encrypted ${warmEncrypted.p50.toFixed(4)}/${warmEncrypted.p95.toFixed(4)} ms, plain ${warmPlain.p50.toFixed(4)}/${warmPlain.p95.toFixed(4)} ms`,
    },
    {
      section: SECTION,
      name: `reads: FTS search (${workload.searches.length} queries)`,
      value: ratio(fts),
      unit: 'x',
      target: { comparator: '<=', threshold: READ_TARGET },
      note: describe(fts, workload.searches.length, 'query'),
    },
    {
      section: SECTION,
      name: `reads: index range scan (${workload.rangeStarts.length} x 500 rows)`,
      value: ratio(range),
      unit: 'x',
      target: { comparator: '<=', threshold: READ_TARGET },
      note: describe(range, workload.rangeStarts.length, 'scan'),
    },
  ];
}
