/** Result rows of the benchmarks: PASS/MISS against their targets, a printed table and a JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import type { Summary } from './stats.js';

/** A bound a measured value must respect. */
export interface Target {
  readonly comparator: '<' | '<=' | '>=';
  readonly threshold: number;
}

/** One line of the report. `value` (in `unit`) is what the target is checked against. */
export interface BenchRow {
  readonly section: string;
  readonly name: string;
  /** Per-iteration timings in ms, when the row is a timing distribution. */
  readonly stats?: Summary;
  readonly value: number;
  readonly unit: 'ms' | 'x' | 'entries/s' | 'rows/s' | 'µs/row' | 'µs' | 'rows';
  readonly target?: Target;
  readonly note?: string;
}

/** How a row fared against its target. */
export type RowStatus = 'PASS' | 'MISS' | 'INFO';

/** PASS or MISS against the row's target; INFO when it has none. */
export function rowStatus(row: BenchRow): RowStatus {
  const target = row.target;
  if (!target) return 'INFO';
  const { threshold } = target;
  const ok =
    target.comparator === '<'
      ? row.value < threshold
      : target.comparator === '<='
        ? row.value <= threshold
        : row.value >= threshold;
  return ok ? 'PASS' : 'MISS';
}

function formatValue(value: number, unit: BenchRow['unit']): string {
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 'ms':
      return `${value.toFixed(3)} ms`;
    case 'x':
      return `${value.toFixed(2)}x`;
    case 'entries/s':
    case 'rows/s':
      return `${Math.round(value).toLocaleString('en-US')} ${unit}`;
    case 'µs/row':
    case 'µs':
      return `${value.toFixed(2)} ${unit}`;
    case 'rows':
      return `${Math.round(value).toLocaleString('en-US')} rows`;
  }
}

function formatMs(value: number | undefined): string {
  return value === undefined ? '' : value.toFixed(4);
}

/** The report as a fixed-width text table, one row per measurement, notes in the last column. */
export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['Section', 'Measurement', 'p50 ms', 'p95 ms', 'p99 ms', 'n', 'Result', 'Target', 'Status', 'Note'];
  const cells = rows.map((row) => [
    row.section,
    row.name,
    formatMs(row.stats?.p50),
    formatMs(row.stats?.p95),
    formatMs(row.stats?.p99),
    row.stats ? String(row.stats.count) : '',
    formatValue(row.value, row.unit),
    row.target ? `${row.target.comparator} ${formatValue(row.target.threshold, row.unit)}` : '',
    rowStatus(row),
    row.note ?? '',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  const numeric = new Set([2, 3, 4, 5, 6]);
  const render = (line: readonly string[]) =>
    line
      .map((cell, column) =>
        column === line.length - 1
          ? cell
          : numeric.has(column)
            ? cell.padStart(widths[column]!)
            : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  const rule = widths
    .map((width, column) => '-'.repeat(column === widths.length - 1 ? Math.min(width, 40) : width))
    .join('  ');
  const lines = [render(header), rule];
  let section = '';
  for (const [index, line] of cells.entries()) {
    if (rows[index]!.section !== section && section !== '') lines.push('');
    section = rows[index]!.section;
    lines.push(render(line));
  }
  return lines.join('\n');
}

/** Counts of PASS and MISS rows, and the names of the rows that missed. */
export function summarizeStatuses(rows: readonly BenchRow[]): { pass: number; miss: number; missed: string[] } {
  const missed = rows.filter((row) => rowStatus(row) === 'MISS').map((row) => `${row.section}: ${row.name}`);
  return { pass: rows.filter((row) => rowStatus(row) === 'PASS').length, miss: missed.length, missed };
}

/** Writes the rows, the configuration and the machine to a JSON file (creating its folder). */
export function writeJsonReport(
  path: string,
  rows: readonly BenchRow[],
  details: { startedAt: Date; durationMs: number; config: Readonly<Record<string, number | string>> },
): void {
  mkdirSync(dirname(path), { recursive: true });
  const cpuList = cpus();
  const document = {
    format: 'chairside-bench/1',
    startedAt: details.startedAt.toISOString(),
    durationMs: Math.round(details.durationMs),
    machine: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpuList.length,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      memoryMiB: Math.round(totalmem() / 2 ** 20),
    },
    config: details.config,
    summary: summarizeStatuses(rows),
    rows: rows.map((row) => ({ ...row, status: rowStatus(row) })),
  };
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
}
