/**
 * Measurement 2: patients.search at clinic scale. Queries are drawn from the stored patients the
 * way a front desk types them: 1-, 2- and 3-letter name prefixes (accents dropped, as typed),
 * full "first last" names, phone prefixes of 5-8 digits, patient numbers (P004512 or 4512),
 * dates of birth (ISO or day first), and the forms added for the front desk (issue 17): the last
 * 4-6 digits of a phone and a bare year of birth. Each query runs through the pipeline as a Receptionist
 * scoped to the main branch, and directly through searchPatients(), in alternating order.
 */
import { buildMatchExpression, searchPatients } from '../../main/core/patients/patient-search.js';
import type { BenchClinic, StoredPatient } from './bench-clinic.js';
import type { BenchConfig } from './config.js';
import { SeededRandom } from '../../main/demo/prng.js';
import type { BenchRow } from './report.js';
import { summarize } from './stats.js';
import { timeAsync, timeSync } from './timing.js';

const SECTION = '2 patient search';
const TARGET_P95_MS = 10;

/** The kinds of query the mix holds, in the order of the report. */
export const QUERY_KINDS = [
  'name prefix, 1 letter',
  'name prefix, 2 letters',
  'name prefix, 3 letters',
  'full name',
  'phone prefix, 5-8 digits',
  'patient number',
  'date of birth',
  'phone last digits, 4-6',
  'year of birth',
] as const;
/** One kind of typed query. */
export type QueryKind = (typeof QUERY_KINDS)[number];

/** A name as a receptionist types it: lower case, without accents. */
function typed(name: string): string {
  return name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

function nationalDigits(phone: string): string {
  let digits = phone.replace(/\D/g, '');
  if (digits.length === 12 && digits.startsWith('91')) digits = digits.slice(2);
  return digits.replace(/^0/, '');
}

/** One query of a kind, drawn from a random stored patient. */
export function queryOfKind(kind: QueryKind, patients: readonly StoredPatient[], random: SeededRandom): string {
  const patient = random.pick(patients);
  const name = random.next() < 0.5 ? patient.firstName : patient.lastName;
  switch (kind) {
    case 'name prefix, 1 letter':
      return typed(name).slice(0, 1);
    case 'name prefix, 2 letters':
      return typed(name).slice(0, 2);
    case 'name prefix, 3 letters':
      return typed(name).slice(0, 3);
    case 'full name':
      return random.next() < 0.5
        ? `${patient.firstName} ${patient.lastName}`
        : typed(`${patient.firstName} ${patient.lastName}`);
    case 'phone prefix, 5-8 digits': {
      const withPhone = patient.phone ? patient : patients.find((candidate) => candidate.phone !== null)!;
      return nationalDigits(withPhone.phone!).slice(0, random.between(5, 8));
    }
    case 'patient number':
      return random.next() < 0.5 ? patient.patientNumber : patient.patientNumber.replace(/^P0*/, '');
    case 'date of birth': {
      const dob = patient.dateOfBirth ?? '1984-03-12';
      if (random.next() < 0.5) return dob;
      const [year, month, day] = dob.split('-');
      return `${day}/${month}/${year}`;
    }
    case 'phone last digits, 4-6': {
      const withPhone = patient.phone ? patient : patients.find((candidate) => candidate.phone !== null)!;
      return nationalDigits(withPhone.phone!).slice(-random.between(4, 6));
    }
    case 'year of birth':
      return (patient.dateOfBirth ?? '1984-03-12').slice(0, 4);
  }
}

/** Measures search latency per query kind through the pipeline and directly. */
export async function measurePatientSearch(bench: BenchClinic, config: BenchConfig): Promise<BenchRow[]> {
  const random = new SeededRandom(`${config.seed}:search`);
  const options = { limit: 20, includeArchived: false, branchIds: [bench.mainBranchId] };
  // The pipeline's default limit is 20, as the UI asks; the direct call uses the same options.
  const pipelineSearch = async (query: string) => {
    const result = await bench.receptionist.call('patients.search', { query });
    if (!result.ok) throw new Error(`patients.search failed in the benchmark: ${result.error.code}`);
  };
  const directSearch = (query: string) => searchPatients(bench.db, query, options);

  for (let i = 0; i < config.searchWarmup; i++) {
    const query = queryOfKind(QUERY_KINDS[i % QUERY_KINDS.length]!, bench.patients, random);
    await pipelineSearch(query);
    directSearch(query);
  }

  const perKind = new Map<QueryKind, { queries: string[]; pipeline: number[]; direct: number[] }>(
    QUERY_KINDS.map((kind) => [kind, { queries: [], pipeline: [], direct: [] }]),
  );
  // Kinds interleaved round-robin, so drift over the run (WAL growth, GC) affects all alike.
  for (let i = 0; i < config.searchPerKind * QUERY_KINDS.length; i++) {
    const kind = QUERY_KINDS[i % QUERY_KINDS.length]!;
    const bucket = perKind.get(kind)!;
    const query = queryOfKind(kind, bench.patients, random);
    bucket.queries.push(query);
    if (i % 2 === 0) {
      bucket.pipeline.push(await timeAsync(() => pipelineSearch(query)));
      bucket.direct.push(timeSync(() => directSearch(query)));
    } else {
      bucket.direct.push(timeSync(() => directSearch(query)));
      bucket.pipeline.push(await timeAsync(() => pipelineSearch(query)));
    }
  }

  const allPipeline = [...perKind.values()].flatMap((bucket) => bucket.pipeline);
  const allDirect = [...perKind.values()].flatMap((bucket) => bucket.direct);
  const pipelineStats = summarize(allPipeline);
  const directStats = summarize(allDirect);
  const rows: BenchRow[] = [
    {
      section: SECTION,
      name: `all kinds, pipeline (${bench.patients.length.toLocaleString('en-US')} patients)`,
      stats: pipelineStats,
      value: pipelineStats.p95,
      unit: 'ms',
      target: { comparator: '<', threshold: TARGET_P95_MS },
      note: 'Receptionist, one branch in scope, limit 20',
    },
    {
      section: SECTION,
      name: 'all kinds, direct searchPatients()',
      stats: directStats,
      value: directStats.p95,
      unit: 'ms',
    },
  ];
  for (const [kind, bucket] of perKind) {
    const stats = summarize(bucket.pipeline);
    const direct = summarize(bucket.direct);
    const matches = summarize(bucket.queries.map((query) => ftsMatchCount(bench, query)));
    rows.push({
      section: SECTION,
      name: `${kind}, pipeline`,
      stats,
      value: stats.p95,
      unit: 'ms',
      target: { comparator: '<', threshold: TARGET_P95_MS },
      note:
        `direct p50/p95 ${direct.p50.toFixed(3)}/${direct.p95.toFixed(3)} ms; ` +
        `FTS matches median ${Math.round(matches.p50)}, p95 ${Math.round(matches.p95)}, max ${matches.max}; ` +
        `e.g. "${bucket.queries[0]}"`,
    });
  }
  return rows;
}

/** How many index rows the query's MATCH expression selects before ranking and LIMIT. */
function ftsMatchCount(bench: BenchClinic, query: string): number {
  const match = buildMatchExpression(query);
  if (!match) return 0;
  return bench.db
    .query<{ n: number }>('SELECT count(*) AS n FROM patients_fts WHERE patients_fts MATCH ?')
    .get([match.expression])!.n;
}
