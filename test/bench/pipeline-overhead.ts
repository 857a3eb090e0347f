/**
 * Measurement 1: what the pipeline adds to a call. For patients.get (a read) and patients.update
 * (a write), each iteration runs the same input twice, in alternating order:
 *   - pipeline: TestCaller → ClinicCore.invoke (validate, session, authorize, rate limit, prepare,
 *     transaction with handler + audit append, touch, shape, output validation);
 *   - direct: a transaction on the same WriteDb around handlerTable[channel].run(ctx, input,
 *     prepared) with a hand-built RunContext (no validation, session, audit or output parse).
 * Overhead = pipeline p50/p95 − direct p50/p95. Writes commit with synchronous=FULL in both
 * paths (the pipeline sets it for writing channels), so both pay the WAL fsync.
 * Then each pipeline step of patients.get is timed on its own, to say where the overhead goes.
 */
import { patientsGet, patientsUpdate } from '../../shared/api/patients.js';
import { roleHasPermission } from '../../shared/permissions.js';
import type { Caller, PrepareContext, RunContext } from '../../main/core/api/handler.js';
import { handlerTable } from '../../main/core/api/handler-table.js';
import { RateLimits } from '../../main/core/api/rate-limits.js';
import type { AuditEntryInput } from '../../main/core/audit/audit-log.js';
import type { BenchClinic } from './bench-clinic.js';
import type { BenchConfig } from './config.js';
import { SeededRandom } from '../../main/demo/prng.js';
import type { BenchRow } from './report.js';
import { type Summary, summarize } from './stats.js';
import { sampleAsync, sampleSync, timeAsync, timeSync } from './timing.js';
import type { TestCaller } from '../support/clinic-fixture.js';

const SECTION = '1 pipeline overhead';

/** The caller the pipeline resolves from a signed-in TestCaller's session token. */
function callerOf(bench: BenchClinic, caller: TestCaller & { userId: string }): Caller {
  const resolved = bench.services.sessions.resolve(caller.token);
  if (resolved.kind !== 'active') throw new Error(`the ${caller.userId} session is ${resolved.kind}`);
  const { session } = resolved;
  return {
    userId: session.userId,
    role: session.role,
    session,
    allBranches: session.allBranches,
    branchIds: session.branchIds,
  };
}

function prepareContext(bench: BenchClinic, caller: Caller): PrepareContext {
  return {
    caller,
    db: bench.db,
    services: bench.services,
    source: '',
    can: (permission) => roleHasPermission(caller.role, permission),
    requireBranch: (branchId) => {
      if (!caller.allBranches && !caller.branchIds.includes(branchId))
        throw new Error('outside the caller branch scope');
    },
  };
}

/** A RunContext as the pipeline would build it, minus everything the pipeline does around it. */
function runContext(bench: BenchClinic, caller: Caller): RunContext {
  return {
    ...prepareContext(bench, caller),
    source: 'bench',
    db: bench.db,
    now: bench.services.sources.clock.now(),
    audit: { entityId: null, details: {} },
    effects: {},
    afterCommit: () => undefined,
    onRollback: () => undefined,
  };
}

async function pipelineCall(caller: TestCaller, channel: string, input: unknown): Promise<void> {
  const result = await caller.call(channel, input);
  if (!result.ok) throw new Error(`${channel} failed in the benchmark: ${result.error.code}`);
}

interface PairedSamples {
  direct: number[];
  pipeline: number[];
}

/** Runs direct and pipeline for each index, alternating which goes first; drops the warm-up. */
async function paired(
  warmup: number,
  iterations: number,
  direct: (i: number) => Promise<number>,
  pipeline: (i: number) => Promise<number>,
): Promise<PairedSamples> {
  const samples: PairedSamples = { direct: [], pipeline: [] };
  for (let i = 0; i < warmup + iterations; i++) {
    let directMs: number;
    let pipelineMs: number;
    if (i % 2 === 0) {
      directMs = await direct(i);
      pipelineMs = await pipeline(i);
    } else {
      pipelineMs = await pipeline(i);
      directMs = await direct(i);
    }
    if (i >= warmup) {
      samples.direct.push(directMs);
      samples.pipeline.push(pipelineMs);
    }
  }
  return samples;
}

function overheadRows(label: string, samples: PairedSamples, target: number | null, note: string): BenchRow[] {
  const direct = summarize(samples.direct);
  const pipeline = summarize(samples.pipeline);
  return [
    {
      section: SECTION,
      name: `${label}: direct handler in a transaction`,
      stats: direct,
      value: direct.p95,
      unit: 'ms',
    },
    { section: SECTION, name: `${label}: through the pipeline`, stats: pipeline, value: pipeline.p95, unit: 'ms' },
    {
      section: SECTION,
      name: `${label}: overhead p50`,
      value: pipeline.p50 - direct.p50,
      unit: 'ms',
    },
    {
      section: SECTION,
      name: `${label}: overhead p95`,
      value: pipeline.p95 - direct.p95,
      unit: 'ms',
      ...(target === null ? {} : { target: { comparator: '<' as const, threshold: target } }),
      note,
    },
  ];
}

/** Measures pipeline overhead for a read and a write, then the cost of each step of the read. */
export async function measurePipelineOverhead(bench: BenchClinic, config: BenchConfig): Promise<BenchRow[]> {
  const random = new SeededRandom(`${config.seed}:overhead`);
  const inScope = bench.patients.filter((patient) => patient.branchId === bench.mainBranchId);
  const dentist = callerOf(bench, bench.dentist);
  const total = config.overheadWarmup + Math.max(config.overheadReads, config.overheadWrites);
  const patientIds = Array.from({ length: total }, () => random.pick(inScope).id);

  // patients.get
  const getHandler = handlerTable['patients.get'];
  const getInputs = patientIds.map((patientId) => patientsGet.input.parse({ patientId }));
  const readSamples = await paired(
    config.overheadWarmup,
    config.overheadReads,
    async (i) => {
      const input = getInputs[i]!;
      const prepared = await getHandler.prepare(prepareContext(bench, dentist), input);
      // The pipeline commits reads (their audit entry) with NORMAL; set outside the timed part.
      bench.db.setSynchronous('NORMAL');
      return timeSync(() => bench.db.transaction(() => getHandler.run(runContext(bench, dentist), input, prepared)));
    },
    (i) => timeAsync(() => pipelineCall(bench.dentist, 'patients.get', { patientId: patientIds[i]! })),
  );

  // patients.update (a phone change, so the row and its FTS entry are rewritten)
  const updateHandler = handlerTable['patients.update'];
  const phones = patientIds.map(() => `+91 9${random.digits(4)} ${random.digits(5)}`);
  const writeSamples = await paired(
    Math.min(config.overheadWarmup, 50),
    config.overheadWrites,
    async (i) => {
      const input = patientsUpdate.input.parse({ patientId: patientIds[i]!, phone: phones[i]! });
      const prepared = await updateHandler.prepare(prepareContext(bench, dentist), input);
      bench.db.setSynchronous('FULL');
      return timeSync(() => bench.db.transaction(() => updateHandler.run(runContext(bench, dentist), input, prepared)));
    },
    (i) =>
      timeAsync(() => pipelineCall(bench.dentist, 'patients.update', { patientId: patientIds[i]!, phone: phones[i]! })),
  );

  return [
    ...overheadRows(
      'patients.get (read, Dentist)',
      readSamples,
      0.5,
      'read audit entry committed with synchronous=NORMAL',
    ),
    ...overheadRows(
      'patients.update (write, Dentist)',
      writeSamples,
      null,
      'both paths commit with synchronous=FULL (WAL fsync); the fsync dominates both',
    ),
    ...(await measureReadSteps(bench, dentist, patientIds, config)),
  ];
}

/** Times each pipeline step of patients.get in isolation, with the same objects the pipeline uses. */
async function measureReadSteps(
  bench: BenchClinic,
  dentist: Caller,
  patientIds: readonly string[],
  config: BenchConfig,
): Promise<BenchRow[]> {
  const warmup = config.overheadWarmup;
  const iterations = config.overheadReads;
  const at = (i: number) => patientIds[i % patientIds.length]!;
  const handler = handlerTable['patients.get'];
  const token = bench.dentist.token;
  const limits = new RateLimits({
    readsPerMinute: 1_000_000_000,
    writesPerMinute: 1_000_000_000,
    publicPerMinute: 1_000_000_000,
    signInFailuresPerSource: 1_000_000,
  });
  const can = (permission: Parameters<RunContext['can']>[0]) => roleHasPermission(dentist.role, permission);
  const auditEntry = (patientId: string): AuditEntryInput => ({
    userId: dentist.userId,
    role: dentist.role,
    action: patientsGet.audit.action,
    entityType: patientsGet.audit.entityType,
    entityId: patientId,
    outcome: 'success',
    purpose: patientsGet.audit.purpose,
    legalBasis: patientsGet.audit.legalBasis,
    details: { medicalHistory: true },
  });
  const output = handler.run(runContext(bench, dentist), { patientId: at(0) }, undefined);
  bench.db.setSynchronous('NORMAL');

  const steps: Array<[string, number[]]> = [
    [
      '1 validate input (zod safeParse)',
      sampleSync(warmup, iterations, (i) => patientsGet.input.safeParse({ patientId: at(i) })),
    ],
    [
      '2 resolve session (token SHA-256 + map)',
      sampleSync(warmup, iterations, () => bench.services.sessions.resolve(token)),
    ],
    [
      '4 rate limit (await limiter.consume)',
      await sampleAsync(warmup, iterations, () => limits.consume('read', `user:${dentist.userId}`)),
    ],
    [
      '5a prepare (await, no prepare defined)',
      await sampleAsync(warmup, iterations, (i) =>
        handler.prepare(prepareContext(bench, dentist), { patientId: at(i) }),
      ),
    ],
    ['5b setSynchronous pragma', sampleSync(warmup, iterations, () => bench.db.setSynchronous('NORMAL'))],
    [
      '5c transaction + handler.run (= direct)',
      sampleSync(warmup, iterations, (i) =>
        bench.db.transaction(() => handler.run(runContext(bench, dentist), { patientId: at(i) }, undefined)),
      ),
    ],
    [
      '5c+6 transaction + run + audit append',
      sampleSync(warmup, iterations, (i) =>
        bench.db.transaction(() => {
          handler.run(runContext(bench, dentist), { patientId: at(i) }, undefined);
          bench.services.audit.append(bench.db, bench.device, auditEntry(at(i)));
        }),
      ),
    ],
    [
      '6 audit append alone (in a transaction)',
      sampleSync(warmup, iterations, (i) =>
        bench.db.transaction(() => bench.services.audit.append(bench.db, bench.device, auditEntry(at(i)))),
      ),
    ],
    [
      '7 shape + output safeParse',
      sampleSync(warmup, iterations, () =>
        patientsGet.output.safeParse(patientsGet.shape ? patientsGet.shape(output, can) : output),
      ),
    ],
  ];
  return steps.map(([name, samples]): BenchRow => {
    const stats: Summary = summarize(samples);
    return { section: '1b patients.get steps', name, stats, value: stats.p50 * 1000, unit: 'µs', note: 'value = p50' };
  });
}
