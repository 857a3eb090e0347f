/**
 * Compaction on a schedule inside a running server (`serve --compact-every-hours N`): every clinic's
 * change log is compacted below its devices' horizon (ClinicStore.compactChanges), one clinic after
 * another, the same as `changes compact` run by hand. Off unless asked for. Compaction works in
 * slices (storage/compaction/compaction-slices.ts), so the clinic's requests are served between
 * them; it still reads a clinic's mutable changes into memory for its plan.
 *
 * Runs never overlap; a clinic that fails is logged and the others still run. Log lines carry the
 * clinic id and counts, never change contents. Several PostgreSQL server processes may each run a
 * schedule: their slices of one clinic take turns on its change counter's lock, and a change one
 * of them already removed is simply not found by the other.
 */
import type { CompactionResult, SyncStorage } from '../storage/storage.js';

/** What one scheduled run did for one clinic (clinicId null: the clinics could not be listed). */
export type ScheduledCompaction =
  | ({ readonly clinicId: string; readonly ok: true } & CompactionResult)
  | { readonly clinicId: string | null; readonly ok: false; readonly error: string };

/** The error's class only: a message could quote stored data. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : 'unknown';
}

/** The timer functions the schedule uses (injected in tests). */
export interface CompactionTimers {
  setInterval(run: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

export interface CompactionScheduleOptions {
  readonly storage: SyncStorage;
  readonly everyMs: number;
  /** Called once per clinic and run; the server logs it. */
  readonly report: (outcome: ScheduledCompaction) => void;
  readonly timers?: CompactionTimers;
}

export interface CompactionSchedule {
  /** One run now over every clinic (what the timer calls); resolves when it is done. */
  runOnce(): Promise<ScheduledCompaction[]>;
  /** No more runs; resolves once a run in progress has finished, so the storage can be closed after. */
  stop(): Promise<void>;
}

const NODE_TIMERS: CompactionTimers = {
  setInterval: (run, ms) => {
    const handle = setInterval(run, ms);
    // A schedule never keeps the process alive on its own.
    handle.unref();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

/** Starts compacting every clinic every `everyMs`. */
export function scheduleCompaction(options: CompactionScheduleOptions): CompactionSchedule {
  if (!Number.isFinite(options.everyMs) || options.everyMs < 60_000) {
    throw new RangeError('compaction runs at most once a minute');
  }
  const timers = options.timers ?? NODE_TIMERS;
  let running: Promise<ScheduledCompaction[]> | null = null;
  let stopped = false;

  const compactAll = async (): Promise<ScheduledCompaction[]> => {
    const outcomes: ScheduledCompaction[] = [];
    const report = (outcome: ScheduledCompaction) => {
      options.report(outcome);
      outcomes.push(outcome);
    };
    let clinicIds: string[];
    try {
      clinicIds = (await options.storage.listClinics()).map((clinic) => clinic.clinicId);
    } catch (error) {
      report({ clinicId: null, ok: false, error: errorName(error) });
      return outcomes;
    }
    for (const clinicId of clinicIds) {
      if (stopped) break;
      try {
        const result = await (await options.storage.clinic(clinicId)).compactChanges();
        report({ clinicId, ok: true, ...result });
      } catch (error) {
        report({ clinicId, ok: false, error: errorName(error) });
      }
    }
    return outcomes;
  };

  const runOnce = (): Promise<ScheduledCompaction[]> => {
    if (stopped) return Promise.resolve([]);
    // A run still going when the timer fires again is not doubled.
    running ??= compactAll().finally(() => {
      running = null;
    });
    return running;
  };

  const handle = timers.setInterval(() => void runOnce(), options.everyMs);
  return {
    runOnce,
    async stop() {
      stopped = true;
      timers.clearInterval(handle);
      await running;
    },
  };
}
