/**
 * Initial sync of a big clinic to a new device (issue #4, "Benchmark"), on each storage.
 *
 * The server runs in a process of its own (sync-initial-server.ts), which seeds it first (not
 * timed): the clinic's users, a branch, `CHAIRSIDE_BENCH_SYNC_PATIENTS` patients each with a
 * medical history, and `CHAIRSIDE_BENCH_SYNC_AUDIT` audit entries of 10 devices' genuine chains.
 *
 * Before the joins, the server builds the clinic's snapshot once (sync-initial-server.ts; its time
 * is reported as the server's build) and then holds it and keeps it current, as it does for any
 * clinic whose log grows, so no join waits for a build.
 *
 * Timed, twice on fresh devices: a ClinicCore in this process runs `setup.joinClinic`
 * through the pipeline against the listening server (create the encrypted database, enroll with a
 * new Ed25519 key, take a token, fetch and check the signed snapshot of the clinic and pull the
 * changes after its cursor, or pull every change, while merging patients in memory, write them all
 * in one transaction with the FTS index), until it answers: first from the snapshot the server
 * holds, then replaying the log (the device's fetch answers the snapshot routes NOT_FOUND, as a
 * server without them does). The split between pulling and the rest is taken from the
 * device's own fetch (the time of the last answer). Then the Admin signs in and searches for the
 * last patient, and the bench checks that every patient is in the table and in the search index.
 *
 * What the new device downloads: the change log only. Devices do not pull the consolidated audit
 * log (nothing in the protocol sends it to devices yet), so the audit entries make the server's
 * database bigger but are not transferred.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ClinicCore } from '../../main/core/clinic-core.js';
import type { CoreServices } from '../../main/core/core-services.js';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { ADMIN_PASSWORD, TestCaller, tempDataDir, testKeyProvider } from '../support/clinic-fixture.js';
import type { BenchRow } from './report.js';
import {
  type BenchStorageKind,
  benchFetch,
  benchStorages,
  envCount,
  machineNote,
  syncBenchEnabled,
} from './sync-bench-support.js';
import type { InitialSyncServerReady } from './sync-initial-server.js';
import { elapsedMs } from './timing.js';

const SECTION = '7 initial sync';
/** Seconds a new device may take to be usable with 100,000 patients (issue #4: half the peer's 23.6 s). */
const JOIN_TARGET_S = 12;
/** The same from a snapshot (issue #10, "Snapshot bootstrap"). */
const SNAPSHOT_JOIN_TARGET_S = 5;
/** The patient count the target is set for; other sizes are reported without a target. */
const TARGET_PATIENTS = 100_000;
/** Sizes, from the environment (defaults in docs/sync-protocol.md, "Benchmarks"). */
export interface InitialSyncConfig {
  readonly patients: number;
  readonly auditEntries: number;
}

export function readInitialSyncConfig(): InitialSyncConfig {
  return {
    patients: envCount('CHAIRSIDE_BENCH_SYNC_PATIENTS', 100_000),
    auditEntries: envCount('CHAIRSIDE_BENCH_SYNC_AUDIT', 500_000),
  };
}

/** The seeded server in its own process, until `close`. */
interface ServerProcess {
  readonly ready: InitialSyncServerReady;
  close(): Promise<void>;
}

/** Forks sync-initial-server.ts and waits until it has seeded the clinic and listens. */
async function startServerProcess(kind: BenchStorageKind, config: InitialSyncConfig): Promise<ServerProcess> {
  const child = fork(
    fileURLToPath(new URL('./sync-initial-server.ts', import.meta.url)),
    [kind, String(config.patients), String(config.auditEntries)],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<InitialSyncServerReady>((resolve, reject) => {
    child.on('message', (message: { ready?: InitialSyncServerReady; error?: string }) => {
      if (message.ready) resolve(message.ready);
      else reject(new Error(`the bench server failed: ${message.error ?? 'no reason'}`));
    });
    child.once('exit', (code) => reject(new Error(`the bench server exited (${code}) before it was ready`)));
  });
  return {
    ready,
    async close() {
      if (child.connected) child.send('close');
      await exited;
    },
  };
}

/** The core's services, reached by bracket access (type-checked) for the count checks. */
function servicesOf(core: ClinicCore): CoreServices {
  return core['services'];
}

/**
 * How a timed join gets the clinic: from the snapshot the server holds (kept current since the
 * seed), or by replaying the whole change log (the device is told there are no snapshots, as by a
 * server before them).
 */
type JoinMode = 'snapshot-held' | 'replay';

const JOIN_MODES: readonly JoinMode[] = ['snapshot-held', 'replay'];

const MODE_WORDS: Record<JoinMode, string> = {
  'snapshot-held': 'from the snapshot the server keeps current',
  replay: 'replaying the change log',
};

/** A fetch that answers the snapshot routes as a server without them would (NOT_FOUND). */
function withoutSnapshots(inner: FetchLike): FetchLike {
  return async (url, init) => {
    if (new URL(url).pathname.startsWith('/v1/snapshot')) {
      return Response.json({ error: { code: 'NOT_FOUND', message: 'There is no such route.' } }, { status: 404 });
    }
    return inner(url, init);
  };
}

/** One timed join of a fresh device, checked; its figures. */
interface TimedJoin {
  readonly joinMs: number;
  readonly pullMs: number;
  readonly usableMs: number;
  readonly machine: string;
}

async function timeJoin(
  kind: BenchStorageKind,
  mode: JoinMode,
  seeded: InitialSyncServerReady,
  code: string,
  config: InitialSyncConfig,
): Promise<TimedJoin> {
  const temp = tempDataDir();
  let core: ClinicCore | undefined;
  try {
    // The device's fetch notes when each answer arrives (its headers; the device then reads the
    // body as it would from any fetch): the last one ends the download.
    let lastAnswerAt = 0n;
    const base = mode === 'replay' ? withoutSnapshots(benchFetch) : benchFetch;
    const timedFetch: FetchLike = async (url, init) => {
      const response = await base(url, init);
      lastAnswerAt = process.hrtime.bigint();
      return response;
    };
    core = await ClinicCore.open({
      dataDir: temp.dir,
      keyProvider: testKeyProvider(),
      sources: testSources(`sync-initial-device:${kind}:${mode}`, new ManualClock(Date.now())),
      bcryptCost: 4,
      rateLimits: { readsPerMinute: 100_000, writesPerMinute: 100_000, publicPerMinute: 100_000 },
      sync: { fetch: timedFetch, requestTimeoutMs: 120_000 },
    });
    const caller = new TestCaller(core);

    const joinCpu = process.cpuUsage();
    const joinStart = process.hrtime.bigint();
    const joined = await caller.ok('setup.joinClinic', { serverUrl: seeded.url, enrollmentCode: code });
    const joinMs = elapsedMs(joinStart);
    const machine = machineNote(joinCpu);
    const pullMs = Number(lastAnswerAt - joinStart) / 1e6;

    const usableStart = process.hrtime.bigint();
    await caller.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
    const found = await caller.ok('patients.search', { query: seeded.lastPatientNumber, limit: 5 });
    const usableMs = elapsedMs(usableStart);

    const db = servicesOf(core).clinic.db!;
    const count = (sql: string) => db.query<{ n: number }>(sql).get()!.n;
    const stored = count('SELECT count(*) AS n FROM patients');
    const indexed = count('SELECT count(*) AS n FROM patients_fts');
    const histories = count('SELECT count(*) AS n FROM patient_medical');
    if (stored !== config.patients || indexed !== config.patients || histories !== config.patients) {
      throw new Error(`the new device holds ${stored} patients, ${indexed} indexed, ${histories} histories`);
    }
    if (!found.results.some((result) => result.patientNumber === seeded.lastPatientNumber)) {
      throw new Error('the last patient is not searchable on the new device');
    }
    // A replay applies every change; a snapshot join applies each row's insert (the seed has no updates).
    if (joined.applied !== seeded.changes) throw new Error(`applied ${joined.applied} of ${seeded.changes} changes`);
    return { joinMs, pullMs, usableMs, machine };
  } finally {
    await core?.close();
    temp.remove();
  }
}

async function measureOn(
  kind: BenchStorageKind,
  config: InitialSyncConfig,
  progress: (message: string) => void,
): Promise<BenchRow[]> {
  const server = await startServerProcess(kind, config);
  const seeded = server.ready;
  try {
    progress(
      `  ${kind}: seeded ${seeded.changes.toLocaleString('en-US')} changes and ${config.auditEntries.toLocaleString('en-US')} audit entries in ${(seeded.seedMs / 1000).toFixed(1)} s (server process)`,
    );
    const size = `${config.patients.toLocaleString('en-US')} patients, ${seeded.changes.toLocaleString('en-US')} changes`;
    progress(`  ${kind}: the server built the clinic's snapshot in ${(seeded.snapshotBuildMs / 1000).toFixed(2)} s`);
    const rows: BenchRow[] = [
      {
        section: SECTION,
        name: `${kind}: the server's snapshot build after the seed (in the background; no join waits for it)`,
        value: seeded.snapshotBuildMs,
        unit: 'ms',
      },
    ];
    for (const [index, mode] of JOIN_MODES.entries()) {
      const timed = await timeJoin(kind, mode, seeded, seeded.enrollmentCodes[index]!, config);
      progress(
        `  ${kind}: joined ${MODE_WORDS[mode]} in ${(timed.joinMs / 1000).toFixed(2)} s (download ${(timed.pullMs / 1000).toFixed(2)} s)`,
      );
      const target = mode === 'replay' ? JOIN_TARGET_S : SNAPSHOT_JOIN_TARGET_S;
      rows.push(
        {
          section: SECTION,
          name: `${kind}: setup.joinClinic ${MODE_WORDS[mode]}, ${size}`,
          value: timed.joinMs,
          unit: 'ms',
          ...(config.patients === TARGET_PATIENTS
            ? { target: { comparator: '<' as const, threshold: target * 1000 } }
            : {}),
          note: `${(timed.joinMs / 1000).toFixed(2)} s; audit log of ${config.auditEntries.toLocaleString('en-US')} entries on the server, not downloaded; ${timed.machine}`,
        },
        {
          section: SECTION,
          name: `${kind}: of which downloading (${mode === 'replay' ? 'every page' : 'manifest, chunks, pages after it'})`,
          value: timed.pullMs,
          unit: 'ms',
        },
        {
          section: SECTION,
          name: `${kind}: of which writing (one transaction, FTS), ${mode}`,
          value: timed.joinMs - timed.pullMs,
          unit: 'ms',
        },
        {
          section: SECTION,
          name: `${kind}: then sign-in + first search, ${mode}`,
          value: timed.usableMs,
          unit: 'ms',
        },
      );
    }
    return rows;
  } finally {
    await server.close();
  }
}

/** Runs the initial-sync measurement on each storage chosen. */
export async function measureInitialSync(
  progress: (message: string) => void,
  caller: 'bench' | 'standalone' = 'bench',
): Promise<BenchRow[]> {
  if (!syncBenchEnabled('initial', caller === 'standalone')) return [];
  const config = readInitialSyncConfig();
  const rows: BenchRow[] = [];
  for (const kind of benchStorages()) rows.push(...(await measureOn(kind, config, progress)));
  return rows;
}
