/**
 * Live propagation (issue #4 benchmark): the time from a write on device A to its arrival on
 * device B over the live channel, on each storage. Nobody calls sync.now: A's write commits
 * through its pipeline, A's background sync pushes it after the debounce, the server's live
 * channel announces the new sequence number, B's scheduler pulls and applies it. A sample starts
 * when A's pipeline call has returned (the write is committed) and ends when B's database holds
 * the patient (checked every millisecond); target p95 < 50 ms. Two real clinic cores (SQLCipher) and a real server on
 * 127.0.0.1. `npx tsx test/bench/sync-live.ts` runs it alone (BENCH_LIVE_SAMPLES, default 200).
 */
import { ClinicCore } from '../../main/core/clinic-core.js';
import type { CoreServices } from '../../main/core/core-services.js';
import { ManualClock, testSources } from '../../main/core/platform/sources.js';
import type { SyncEngineOptions } from '../../main/core/sync/sync-engine.js';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { ADMIN_PASSWORD, TestCaller, tempDataDir, testKeyProvider } from '../support/clinic-fixture.js';
import type { BenchRow } from './report.js';
import { summarize } from './stats.js';
import { BENCH_STORAGES, type BenchServer, operatorEnrollmentCode, startBenchServer } from './sync-bench-support.js';
import { elapsedMs } from './timing.js';

const TARGET_P95_MS = 50;
const WARMUP = 10;

/**
 * Requests of both devices in flight (the live stream counts only until its headers arrive), so a
 * sample starts on a quiet system: each round also pushes the device's audit chain after its pull,
 * and a write made during that tail would measure the tail, not the propagation.
 */
let inFlight = 0;
let lastActivity = process.hrtime.bigint();
const countingFetch: FetchLike = async (url, init) => {
  inFlight++;
  try {
    return await fetch(url, init);
  } finally {
    inFlight--;
    lastActivity = process.hrtime.bigint();
  }
};

/** Background sync as shipped, but with no debounce: the sample measures propagation, not the quiet period. */
const BACKGROUND: SyncEngineOptions = {
  fetch: countingFetch,
  requestTimeoutMs: 10_000,
  background: { debounceMs: 0, intervalMs: 10 * 60_000 },
};

interface BenchDeviceCore {
  readonly core: ClinicCore;
  readonly caller: TestCaller;
  readonly branchId: string;
  readonly adminUserId: string;
  close(): Promise<void>;
}

function servicesOf(core: ClinicCore): CoreServices {
  return core['services'];
}

/** A clinic core with its Admin signed in; each has its own seed, so its own device and row ids. */
async function openDevice(seed: string): Promise<BenchDeviceCore> {
  const temp = tempDataDir();
  const core = await ClinicCore.open({
    dataDir: temp.dir,
    keyProvider: testKeyProvider(),
    sources: testSources(seed, new ManualClock(Date.now() - 60_000)),
    bcryptCost: 4,
    rateLimits: { readsPerMinute: 1_000_000, writesPerMinute: 1_000_000, publicPerMinute: 1_000_000 },
    sync: BACKGROUND,
  });
  const caller = new TestCaller(core);
  const setup = await caller.ok('setup.createClinic', {
    clinicName: 'Bench Dental',
    branchName: `Branch ${seed}`,
    admin: { username: 'admin', displayName: 'Asha Admin', password: ADMIN_PASSWORD },
  });
  await caller.ok('auth.signIn', { username: 'admin', password: ADMIN_PASSWORD });
  return {
    core,
    caller,
    branchId: setup.branchId,
    adminUserId: setup.adminUserId,
    async close() {
      await core.close();
      temp.remove();
    },
  };
}

/** Resolves once the predicate holds, checking every millisecond. */
async function until(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const start = process.hrtime.bigint();
  while (!predicate()) {
    if (elapsedMs(start) > timeoutMs) throw new Error('timed out waiting for live propagation');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function connect(device: BenchDeviceCore, server: BenchServer): Promise<void> {
  await device.caller.ok('auth.reauthenticate', { password: ADMIN_PASSWORD });
  await device.caller.ok('sync.connect', {
    serverUrl: server.url,
    enrollmentCode: await operatorEnrollmentCode(server),
  });
  const db = servicesOf(device.core).clinic.db!;
  // The first background round has uploaded everything (the founder first).
  await until(
    () => db.query<{ n: number }>('SELECT count(*) AS n FROM sync_outbox WHERE pushed_at IS NULL').get()!.n === 0,
    30_000,
  );
}

async function measureOn(kind: (typeof BENCH_STORAGES)[number], samples: number): Promise<BenchRow> {
  const server = await startBenchServer(kind);
  const a = await openDevice(`live-a-${kind}`);
  const b = await openDevice(`live-b-${kind}`);
  try {
    await connect(a, server);
    // B's Admin is a user of the clinic (as joining would make it) before B pushes as it.
    const store = await server.storage.clinic(server.clinicId);
    await store.updateUserDirectory([{ userId: b.adminUserId, role: 'Admin', roleHlc: '0' }]);
    await connect(b, server);
    const dbB = servicesOf(b.core).clinic.db!;
    const arrived = (id: string) =>
      dbB.query<{ n: number }>('SELECT count(*) AS n FROM patients WHERE id = ?').get([id])!.n === 1;
    const timings: number[] = [];
    for (let i = 0; i < WARMUP + samples; i++) {
      const patient = await a.caller.ok('patients.create', {
        branchId: a.branchId,
        firstName: `Live${i}`,
        lastName: 'Bench',
        phone: `98450 ${String(10000 + i).padStart(5, '0')}`,
      });
      // From the commit: the pipeline call has returned, the write and its outbox row are stored.
      const start = process.hrtime.bigint();
      await until(() => arrived(patient.id), 10_000);
      if (i >= WARMUP) timings.push(elapsedMs(start));
      // Both rounds go on with their audit pushes; the next write starts once both are done.
      await until(() => inFlight === 0 && elapsedMs(lastActivity) > 20, 10_000);
    }
    const stats = summarize(timings);
    return {
      section: '6 sync live',
      name: `write on A → applied on B over the live channel (${kind})`,
      stats,
      value: stats.p95,
      unit: 'ms',
      target: { comparator: '<', threshold: TARGET_P95_MS },
      note: `p95 of ${samples} writes on a quiet system; from A's commit: push + SSE event + pull + apply on B`,
    };
  } finally {
    await a.close();
    await b.close();
    await server.close();
  }
}

/** Live propagation on both storages. */
export async function measureLivePropagation(progress: (message: string) => void): Promise<BenchRow[]> {
  const samples = Number(process.env.BENCH_LIVE_SAMPLES ?? 200);
  const rows: BenchRow[] = [];
  for (const kind of BENCH_STORAGES) {
    progress(`  live propagation on ${kind}...`);
    rows.push(await measureOn(kind, samples));
  }
  return rows;
}

// Run alone: `npx tsx test/bench/sync-live.ts`.
if (process.argv[1]?.endsWith('sync-live.ts')) {
  const keepAlive = setInterval(() => undefined, 60_000);
  measureLivePropagation((message) => process.stderr.write(`${message}\n`))
    .then((rows) => {
      for (const row of rows) process.stdout.write(`${row.name}: ${JSON.stringify(row.stats)}\n`);
    })
    .finally(() => clearInterval(keepAlive))
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    });
}
