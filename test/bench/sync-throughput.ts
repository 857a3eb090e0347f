/**
 * Push and pull throughput through the sync server with 20 concurrent devices (issue #4,
 * "Benchmark"), on each storage. Every device is enrolled over HTTP with its own Ed25519 key and
 * token; all talk to one server listening on 127.0.0.1 in this process, from a worker thread
 * (sync-devices-worker.mjs) so that, as on other computers, their work does not share the
 * server's event loop.
 *
 * Push: each device sends `CHAIRSIDE_BENCH_SYNC_PUSHES` pushes one after the other (as the device
 * engine does: the next push after the answer), each of 100 local transactions, the most one push
 * carries. A transaction is what a clinic's day produces: 70% register a patient with a medical
 * history (a patient insert and a patient_medical insert by a Dentist, who holds both
 * permissions), 30% a Receptionist editing an earlier patient's phone (one update). Every change
 * goes through the server's full path: envelope checks, re-validation against the shared schema,
 * the user directory and the permission matrix, the quarantine lookup, and the atomic, idempotent
 * append. The figure is changes accepted per second of wall time, from the first push to the last
 * answer. Changes are built and encoded before the clock starts (the devices' work, not the
 * server's).
 *
 * Pull: the same 20 devices then page through the whole log from cursor 0 concurrently, 500
 * changes a page as the device engine asks, each answer parsed as JSON; the figure is changes
 * delivered per second over all devices.
 */
import { Worker } from 'node:worker_threads';
import { z } from 'zod';
import { type IdSource } from '../../main/core/platform/sources.js';
import { DEVICE_PROTOCOL_VERSION } from '../../main/core/sync/sync-http.js';
import type { BenchRow } from './report.js';
import { summarize } from './stats.js';
import {
  type BenchDevice,
  type BenchServer,
  type BenchStorageKind,
  type BenchUsers,
  type PushBatch,
  benchIds,
  benchStorages,
  devicePatientNumber,
  enrollBenchDevice,
  envCount,
  machineNote,
  medicalFields,
  patientInsertFields,
  pushBatches,
  registerBenchUsers,
  signedBatch,
  startBenchServer,
  syncBenchEnabled,
} from './sync-bench-support.js';
import { generatePatients } from '../../main/demo/synthetic-patients.js';
import { SeededRandom } from '../../main/demo/prng.js';

const SECTION = '5 sync throughput';
/** Changes a second the server must accept with 20 devices (issue #4: twice the peer's 3,840). */
const PUSH_TARGET = 8_000;
/** Transactions per push: the server's and the device engine's limit. */
const TRANSACTIONS_PER_PUSH = 100;
/** The device engine's pull page size (main/core/sync/sync-engine.ts). */
const PULL_PAGE = 500;

/** Sizes, from the environment (defaults in docs/sync-protocol.md, "Benchmarks"). */
export interface SyncThroughputConfig {
  readonly devices: number;
  readonly pushesPerDevice: number;
}

export function readSyncThroughputConfig(): SyncThroughputConfig {
  return {
    devices: envCount('CHAIRSIDE_BENCH_SYNC_DEVICES', 20),
    pushesPerDevice: envCount('CHAIRSIDE_BENCH_SYNC_PUSHES', 5),
  };
}

const pushResultSchema = z.strictObject({
  accepted: z.number().int().min(0),
  latencies: z.array(z.number()),
  ms: z.number().positive(),
});
const pullResultSchema = z.strictObject({
  delivered: z.number().int().min(0),
  latencies: z.array(z.number()),
  ms: z.number().positive(),
});

/** Runs one task in a new devices worker (sync-devices-worker.mjs) and checks its answer. */
async function runDevices<T>(schema: z.ZodType<T>, task: Record<string, unknown>): Promise<T> {
  const worker = new Worker(new URL('./sync-devices-worker.mjs', import.meta.url));
  try {
    const answer = await new Promise<unknown>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage(task);
    });
    const reply = z
      .union([
        z.strictObject({ ok: z.literal(true), result: z.unknown() }),
        z.strictObject({ ok: z.literal(false), error: z.string() }),
      ])
      .parse(answer);
    if (!reply.ok) throw new Error(`the bench devices failed: ${reply.error}`);
    return schema.parse(reply.result);
  } finally {
    await worker.terminate();
  }
}

/** One device's pushes, built in advance. */
function buildPushes(
  device: BenchDevice,
  users: BenchUsers,
  branchId: string,
  pushes: number,
  seed: string,
): PushBatch[][] {
  const random = new SeededRandom(seed);
  const patients = generatePatients(pushes * TRANSACTIONS_PER_PUSH, seed, Date.now());
  const made: string[] = [];
  const all: PushBatch[][] = [];
  let next = 0;
  for (let p = 0; p < pushes; p++) {
    const batches: PushBatch[] = [];
    for (let t = 0; t < TRANSACTIONS_PER_PUSH; t++) {
      const txId = device.changes.transaction();
      if (made.length > 0 && random.next() < 0.3) {
        const rowId = made[random.int(made.length)]!;
        const phone = `9${random.digits(9)}`;
        batches.push({
          txId,
          changes: [device.changes.change(txId, users.receptionistId, 'patient', rowId, 'update', { phone })],
        });
        continue;
      }
      const patient = patients[next++]!;
      const rowId = device.changes.rowId();
      made.push(rowId);
      const numbered = { ...patient, patientNumber: devicePatientNumber(device.deviceNumber, next) };
      batches.push({
        txId,
        changes: [
          device.changes.change(
            txId,
            users.dentistId,
            'patient',
            rowId,
            'insert',
            patientInsertFields(numbered, branchId, users.dentistId, Date.now()),
          ),
          device.changes.change(
            txId,
            users.dentistId,
            'patient_medical',
            rowId,
            'insert',
            medicalFields(patient.medical),
          ),
        ],
      });
    }
    all.push(batches.map((batch) => signedBatch(users, batch)));
  }
  return all;
}

/** Enrolls the devices and pushes the clinic's branch (by the Admin), untimed. */
async function prepareClinic(server: BenchServer, ids: IdSource, devices: number, signed: boolean) {
  const users = await registerBenchUsers(server, ids, signed);
  const enrolled: BenchDevice[] = [];
  for (let i = 0; i < devices; i++) enrolled.push(await enrollBenchDevice(server, ids, `Bench PC ${i + 1}`));
  const first = enrolled[0]!;
  const txId = first.changes.transaction();
  const branchId = first.changes.rowId();
  await pushBatches(server, first, [
    signedBatch(users, {
      txId,
      changes: [
        first.changes.change(txId, users.adminId, 'branch', branchId, 'insert', {
          name: 'MG Road',
          created_at: Date.now(),
        }),
      ],
    }),
  ]);
  return { users, devices: enrolled, branchId };
}

async function measureOn(
  kind: BenchStorageKind,
  config: SyncThroughputConfig,
  signed: boolean,
  progress: (message: string) => void,
): Promise<BenchRow[]> {
  const server = await startBenchServer(kind);
  // Signed: users with signing keys, each transaction signed and verified (issue #11); unsigned:
  // users made before keys, whose batches the server accepts without a signature.
  const mode = signed ? 'signed' : 'unsigned';
  try {
    const ids = benchIds(`sync-throughput:${kind}`);
    const { users, devices, branchId } = await prepareClinic(server, ids, config.devices, signed);
    // One warm-up push per device (not timed), then the timed pushes.
    const plans = devices.map((device, i) =>
      buildPushes(device, users, branchId, config.pushesPerDevice + 1, `sync-throughput:${kind}:${i}`),
    );
    await Promise.all(devices.map((device, i) => pushBatches(server, device, plans[i]![0]!)));
    progress(`  ${kind}: ${config.devices} devices enrolled; pushing`);

    // The devices run in a worker thread, as on other computers: their HTTP and JSON work does not
    // share the server's event loop. Their push bodies are encoded before the clock starts.
    const pushCpu = process.cpuUsage();
    const pushed = await runDevices(pushResultSchema, {
      kind: 'push',
      serverUrl: server.url,
      protocolVersion: DEVICE_PROTOCOL_VERSION,
      devices: devices.map((device, i) => ({
        token: device.token,
        bodies: plans[i]!.slice(1).map((batches) =>
          JSON.stringify({ protocolVersion: DEVICE_PROTOCOL_VERSION, batches }),
        ),
      })),
    });
    const { accepted, latencies: pushLatencies, ms: pushMs } = pushed;
    const pushRate = accepted / (pushMs / 1000);
    const pushMachine = machineNote(pushCpu);
    progress(`  ${kind}: ${accepted} changes accepted in ${(pushMs / 1000).toFixed(2)} s; pulling`);

    const pullCpu = process.cpuUsage();
    const pulled = await runDevices(pullResultSchema, {
      kind: 'pull',
      serverUrl: server.url,
      protocolVersion: DEVICE_PROTOCOL_VERSION,
      tokens: devices.map((device) => device.token),
      pageSize: PULL_PAGE,
    });
    const { delivered, latencies: pullLatencies, ms: pullMs } = pulled;
    const pullRate = delivered / (pullMs / 1000);
    const pullMachine = machineNote(pullCpu);
    const pushStats = summarize(pushLatencies);
    const pullStats = summarize(pullLatencies);
    return [
      {
        section: SECTION,
        name: `${kind}: push (${mode}), ${config.devices} devices, changes accepted/s`,
        stats: pushStats,
        value: pushRate,
        unit: 'rows/s',
        target: { comparator: '>=', threshold: PUSH_TARGET },
        note: `${accepted.toLocaleString('en-US')} changes in ${(pushMs / 1000).toFixed(2)} s; ${config.pushesPerDevice} pushes of ${TRANSACTIONS_PER_PUSH} transactions per device; ms per push; ${pushMachine}`,
      },
      {
        section: SECTION,
        name: `${kind}: pull (${mode}), ${config.devices} devices, changes delivered/s`,
        stats: pullStats,
        value: pullRate,
        unit: 'rows/s',
        note: `${delivered.toLocaleString('en-US')} changes in ${(pullMs / 1000).toFixed(2)} s; pages of ${PULL_PAGE}; ms per page; ${pullMachine}`,
      },
    ];
  } finally {
    await server.close();
  }
}

/** Runs the push and pull measurements on each storage chosen. */
export async function measureSyncThroughput(
  progress: (message: string) => void,
  caller: 'bench' | 'standalone' = 'bench',
): Promise<BenchRow[]> {
  if (!syncBenchEnabled('throughput', caller === 'standalone')) return [];
  const config = readSyncThroughputConfig();
  const rows: BenchRow[] = [];
  // Both modes in one run, side by side: the cost of user signatures (issue #11's budget is 15%).
  for (const kind of benchStorages()) {
    for (const signed of [false, true]) rows.push(...(await measureOn(kind, config, signed, progress)));
  }
  return rows;
}
