/**
 * Scheduled compaction (`serve --compact-every-hours N`) on a real embedded storage: each run
 * compacts every clinic as `changes compact` would, a failing clinic does not stop the others,
 * runs never overlap, and stopping waits for a run in progress.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TestClock, seedSupersededEdits } from '../../test/support/sync-server/conformance-fixtures.js';
import { masterKeySource } from '../storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../storage/storage.js';
import { type CompactionTimers, type ScheduledCompaction, scheduleCompaction } from './compaction-schedule.js';

let dataDir: string;
let storage: SyncStorage;

beforeEach(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'chairside-compaction-schedule-'));
  storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock: new TestClock() });
});
afterEach(async () => {
  await storage.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A clinic whose one device edited one patient's name three times and pulled everything. */
async function clinicWithSupersededEdits(name: string): Promise<string> {
  const { clinicId } = await storage.createClinic({ name });
  const store = await storage.clinic(clinicId);
  await seedSupersededEdits(storage, store);
  return clinicId;
}

/** Timers the test fires by hand. */
function manualTimers(): CompactionTimers & { fire(): void; cleared: boolean } {
  let callback: (() => void) | null = null;
  return {
    cleared: false,
    setInterval(run) {
      callback = run;
      return 'handle';
    },
    clearInterval() {
      this.cleared = true;
    },
    fire() {
      callback?.();
    },
  };
}

describe('scheduled compaction', () => {
  it('compacts every clinic on each run, reporting counts and nothing else', async () => {
    const first = await clinicWithSupersededEdits('Smile');
    const second = await clinicWithSupersededEdits('Grin');
    const reported: ScheduledCompaction[] = [];
    const schedule = scheduleCompaction({
      storage,
      everyMs: 3_600_000,
      report: (outcome) => reported.push(outcome),
      timers: manualTimers(),
    });
    const outcomes = await schedule.runOnce();
    expect(outcomes.map((outcome) => outcome.clinicId).sort()).toEqual([first, second].sort());
    expect(outcomes.every((outcome) => outcome.ok && outcome.removed === 2 && outcome.kept === 1)).toBe(true);
    expect(reported).toEqual(outcomes);
    // A second run finds nothing more to remove.
    expect((await schedule.runOnce()).map((outcome) => outcome.ok && outcome.removed)).toEqual([0, 0]);
    await schedule.stop();
  });

  it('goes on with the other clinics when one fails, naming only the error class', async () => {
    const healthy = await clinicWithSupersededEdits('Smile');
    const failing = await clinicWithSupersededEdits('Grin');
    const store = await storage.clinic(failing);
    // The failing clinic's storage breaks the way a damaged file would.
    const broken: SyncStorage = Object.create(storage) as SyncStorage;
    broken.clinic = async (clinicId) =>
      clinicId === failing
        ? Object.assign(Object.create(store) as typeof store, {
            compactChanges: () => Promise.reject(new TypeError('row p1 "Name 3" is damaged')),
          })
        : storage.clinic(clinicId);
    const schedule = scheduleCompaction({
      storage: broken,
      everyMs: 3_600_000,
      report: () => {},
      timers: manualTimers(),
    });
    const outcomes = await schedule.runOnce();
    expect(outcomes).toContainEqual({ clinicId: failing, ok: false, error: 'TypeError' });
    expect(outcomes).toContainEqual(expect.objectContaining({ clinicId: healthy, ok: true, removed: 2 }));
    expect(JSON.stringify(outcomes)).not.toContain('Name 3');
    await schedule.stop();
  });

  it('never runs twice at once, and stop waits for the run in progress and ends the timer', async () => {
    await clinicWithSupersededEdits('Smile');
    const timers = manualTimers();
    const reported: ScheduledCompaction[] = [];
    const schedule = scheduleCompaction({
      storage,
      everyMs: 3_600_000,
      report: (outcome) => reported.push(outcome),
      timers,
    });
    const first = schedule.runOnce();
    timers.fire();
    expect(schedule.runOnce()).toBe(first);
    await first;
    expect(reported).toHaveLength(1);

    expect(timers.cleared).toBe(false);
    await schedule.stop();
    expect(timers.cleared).toBe(true);
    expect(await schedule.runOnce()).toEqual([]);
  });

  it('stops only once the compaction in progress has committed', async () => {
    const clinicId = await clinicWithSupersededEdits('Smile');
    const store = await storage.clinic(clinicId);
    let release: () => void = () => {};
    let started: () => void = () => {};
    const compactionStarted = new Promise<void>((resolve) => (started = resolve));
    // A compaction that takes as long as the test says.
    const slow: SyncStorage = Object.create(storage) as SyncStorage;
    slow.clinic = async () =>
      Object.assign(Object.create(store) as typeof store, {
        compactChanges: async () => {
          started();
          await new Promise<void>((resolve) => (release = resolve));
          return store.compactChanges();
        },
      });
    const reported: ScheduledCompaction[] = [];
    const schedule = scheduleCompaction({
      storage: slow,
      everyMs: 3_600_000,
      report: (outcome) => reported.push(outcome),
      timers: manualTimers(),
    });
    void schedule.runOnce();
    await compactionStarted;
    let stopped = false;
    const stopping = schedule.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(reported).toEqual([expect.objectContaining({ clinicId, ok: true, removed: 2 })]);
  });

  it('refuses to run more often than once a minute', () => {
    expect(() => scheduleCompaction({ storage, everyMs: 1000, report: () => {} })).toThrow(RangeError);
  });
});
