/**
 * Benchmark sizes, each overridable by an environment variable for quick runs, e.g.
 * `BENCH_PATIENTS=5000 BENCH_AUDIT_ENTRIES=20000 BENCH_ONLY=search,audit npm run bench`.
 */

/** The sections `BENCH_ONLY` can select (comma-separated); all by default. */
export const SECTIONS = ['overhead', 'search', 'cipher', 'audit'] as const;
/** One selectable part of the run. */
export type Section = (typeof SECTIONS)[number];

/** Every size and count the run uses. */
export interface BenchConfig {
  readonly sections: readonly Section[];
  readonly seed: string;
  readonly outFile: string;
  /** Patients in the clinic used for pipeline overhead and search. */
  readonly patients: number;
  readonly overheadWarmup: number;
  readonly overheadReads: number;
  readonly overheadWrites: number;
  readonly searchWarmup: number;
  /** Timed pipeline searches per query kind (the direct searchPatients() runs the same queries). */
  readonly searchPerKind: number;
  readonly cipherRows: number;
  readonly cipherReads: number;
  readonly cipherRounds: number;
  readonly auditEntries: number;
  readonly auditVerifyRuns: number;
}

function positiveInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function sections(): readonly Section[] {
  const raw = process.env.BENCH_ONLY;
  if (!raw) return SECTIONS;
  const chosen = raw.split(',').map((part) => part.trim());
  for (const name of chosen) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown section "${name}"`);
  }
  return SECTIONS.filter((section) => chosen.includes(section));
}

/** The configuration from the environment, with full-size defaults. */
export function readBenchConfig(): BenchConfig {
  return {
    sections: sections(),
    seed: process.env.BENCH_SEED ?? 'chairside-bench-1',
    outFile: process.env.BENCH_OUT ?? 'bench-results/bench.json',
    patients: positiveInt('BENCH_PATIENTS', 100_000),
    overheadWarmup: positiveInt('BENCH_OVERHEAD_WARMUP', 300),
    overheadReads: positiveInt('BENCH_OVERHEAD_READS', 3000),
    overheadWrites: positiveInt('BENCH_OVERHEAD_WRITES', 300),
    searchWarmup: positiveInt('BENCH_SEARCH_WARMUP', 200),
    searchPerKind: positiveInt('BENCH_SEARCH_PER_KIND', 200),
    cipherRows: positiveInt('BENCH_CIPHER_ROWS', 50_000),
    cipherReads: positiveInt('BENCH_CIPHER_READS', 50_000),
    cipherRounds: positiveInt('BENCH_CIPHER_ROUNDS', 7),
    auditEntries: positiveInt('BENCH_AUDIT_ENTRIES', 250_000),
    auditVerifyRuns: positiveInt('BENCH_AUDIT_VERIFY_RUNS', 3),
  };
}
