/**
 * Compaction in slices (compaction-slices.ts), on both storages: it proceeds a few rows per
 * transaction with the event loop free between slices; a pull or a push made between two slices is
 * served there and answered correctly; a row written to during the compaction is left whole; and a
 * device enrolled during it stops the run. Slices are made tiny and the pause between them is the
 * test's hook, so nothing here depends on timing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeHlc } from '../../../shared/sync/hlc.js';
import {
  TestClock,
  enrollDevice,
  makeChange,
  pullWholeLog,
} from '../../../test/support/sync-server/conformance-fixtures.js';
import { type TestDatabase, createTestDatabase } from '../../../test/support/sync-server/test-database.js';
import { openPostgresSyncStorage } from '../postgres/postgres-storage.js';
import { masterKeySource } from '../sqlite/key-source.js';
import { openSqliteSyncStorage } from '../sqlite/sqlite-storage.js';
import type { ChangeInput, ClinicStore, SyncStorage } from '../storage.js';
import type { CompactionSlice, CompactionSliceOptions } from './compaction-slices.js';

const WALL = 1_760_000_000_000;

/** The clinic a test acts on between slices. */
interface Clinic {
  readonly storage: SyncStorage;
  readonly store: ClinicStore;
}

/** The pause between slices, as the test sees it: which slice comes next, and the clinic to act on. */
type BetweenSlices = (next: CompactionSlice, clinic: Clinic) => Promise<void>;

interface Harness {
  readonly name: string;
  open(clock: TestClock, slices: CompactionSliceOptions): Promise<SyncStorage>;
}

let database: TestDatabase | undefined;
const dataDirs: string[] = [];
const opened: SyncStorage[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const storage of opened.splice(0)) await storage.close();
});

const harnesses: Harness[] = [
  {
    name: 'SQLite',
    open: (clock, compactionSlices) => {
      const dataDir = mkdtempSync(join(tmpdir(), 'chairside-slices-'));
      dataDirs.push(dataDir);
      return openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock, compactionSlices });
    },
  },
  {
    name: 'PostgreSQL',
    open: (clock, compactionSlices) =>
      openPostgresSyncStorage({ connection: database!.app, clock, compactionSlices, masterKey: database!.masterKey }),
  },
];

/** One change of a row at clock tick `tick`. */
function rowChange(txId: string, rowId: string, op: ChangeInput['op'], tick: number): ChangeInput {
  return makeChange('device-1', txId, 1, {
    entity: 'patient',
    rowId,
    op,
    fields: { first_name: `Name at ${tick}` },
    hlc: encodeHlc({ wallMs: WALL + tick, counter: 0, deviceId: 'device-1' }),
  });
}

async function push(store: ClinicStore, txId: string, change: ChangeInput): Promise<number> {
  const result = await store.appendChanges({ deviceId: 'device-1', txId, changes: [change] });
  return result.changes[0]!.serverSeq;
}

for (const harness of harnesses) {
  describe(`${harness.name} storage: compaction in slices`, () => {
    /**
     * A clinic whose device-1 wrote `rows` patients, each an insert and three edits of its name (the
     * first two superseded), and pulled everything; `between` runs before each slice.
     */
    async function clinicWithEdits(rows: number, between: BetweenSlices) {
      const clock = new TestClock();
      // Set once the clinic exists; compaction (and so the pause) only runs after that.
      const made: { clinic?: Clinic } = {};
      const slices: CompactionSliceOptions = {
        readPage: 3,
        changesPerSlice: 4,
        pause: async (next) => {
          await new Promise((resolve) => setImmediate(resolve));
          await between(next, made.clinic!);
        },
      };
      const storage = await harness.open(clock, slices);
      opened.push(storage);
      const clinic = await storage.createClinic({ name: 'Sliced Dental' });
      const store = await storage.clinic(clinic.clinicId);
      await enrollDevice(storage, store, 'device-1');
      for (let row = 1; row <= rows; row++) {
        await push(store, `tx-${row}-0`, rowChange(`tx-${row}-0`, `p${row}`, 'insert', row * 10));
        for (let edit = 1; edit <= 3; edit++) {
          await push(store, `tx-${row}-${edit}`, rowChange(`tx-${row}-${edit}`, `p${row}`, 'update', row * 10 + edit));
        }
      }
      await store.recordPulledCursor('device-1', await store.latestChangeSeq());
      made.clinic = { storage, store };
      return made.clinic;
    }

    it('removes a few rows per transaction, serving a pull and a push between two slices correctly', async () => {
      const phases: CompactionSlice[] = [];
      const served: Array<{ seqs: number[]; pushed: number }> = [];
      let pushes = 0;
      const { store } = await clinicWithEdits(6, async (next, { store }) => {
        phases.push(next);
        if (next !== 'remove') return;
        // Between two slices: a pull of the whole log and a push of a new patient, both served now.
        const pushed = await push(
          store,
          `tx-new-${++pushes}`,
          rowChange(`tx-new-${pushes}`, `new-${pushes}`, 'insert', 1000 + pushes),
        );
        const seqs = (await pullWholeLog(store)).map((change) => change.serverSeq);
        served.push({ seqs, pushed });
      });

      const result = await store.compactChanges();

      // 24 changes of 6 rows, 4 changes a slice: a slice per row, after the reads of 3 changes a page.
      expect(phases.filter((phase) => phase === 'read')).toHaveLength(8);
      expect(phases.filter((phase) => phase === 'remove')).toHaveLength(6);
      expect(result).toEqual({ horizon: 24, removed: 12, kept: 12 + pushes });
      // Each pull saw a log ordered by number, with whole rows compacted one slice after another
      // (row r's two superseded edits are r*4-2 and r*4-1), and the push made just before it.
      served.forEach(({ seqs, pushed }, slice) => {
        const gone = Array.from({ length: slice }, (_, row) => [row * 4 + 2, row * 4 + 3]).flat();
        const seeded = Array.from({ length: 24 }, (_, i) => i + 1).filter((seq) => !gone.includes(seq));
        const pushedSoFar = Array.from({ length: slice + 1 }, (_, i) => 25 + i);
        expect(seqs).toEqual([...seeded, ...pushedSoFar]);
        expect(pushed).toBe(25 + slice);
      });
      // What is left: every insert, every last edit, and the pushed patients.
      const left = await pullWholeLog(store);
      expect(left.filter((change) => change.rowId.startsWith('p')).map((change) => change.serverSeq)).toEqual(
        Array.from({ length: 6 }, (_, row) => [row * 4 + 1, row * 4 + 4]).flat(),
      );
      expect(await store.compactChanges()).toMatchObject({ removed: 0 });
    });

    it('leaves whole a row written to during the compaction, whose plan the new change would alter', async () => {
      let wrote = false;
      const { store } = await clinicWithEdits(3, async (next, { store }) => {
        if (next !== 'remove' || wrote) return;
        wrote = true;
        // Before the first removal: p3 gets a newer edit (its plan was read without it).
        await push(store, 'tx-late', rowChange('tx-late', 'p3', 'update', 99));
      });

      const result = await store.compactChanges();

      expect(result).toEqual({ horizon: 12, removed: 4, kept: 9 });
      const p3 = (await pullWholeLog(store)).filter((change) => change.rowId === 'p3');
      expect(p3.map((change) => change.serverSeq)).toEqual([9, 10, 11, 12, 13]);
      // The next run compacts it with the change it missed.
      expect(await store.compactChanges()).toEqual({ horizon: 12, removed: 3, kept: 6 });
    });

    it('stops when a device enrolls during the compaction, leaving the rows it had not reached', async () => {
      let removals = 0;
      const { store } = await clinicWithEdits(4, async (next, { storage, store }) => {
        if (next === 'remove' && ++removals === 3) await enrollDevice(storage, store, 'device-2');
      });

      const result = await store.compactChanges();

      // Two rows compacted before the enrollment; the new device (never pulled) holds the rest back.
      expect(result).toEqual({ horizon: 16, removed: 4, kept: 12 });
      expect(await store.compactChanges()).toEqual({ horizon: 0, removed: 0, kept: 12 });
    });
  });
}
