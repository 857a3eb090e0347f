/**
 * Applies a whole clinic's change log to a new device (setup.joinClinic), fast enough for a
 * clinic of 100,000 patients (docs/sync-protocol.md, "Joining a clinic").
 *
 * Patients and their medical histories are most of the log. Their changes are merged in memory,
 * with the same plan as a pulled page (sync-apply.ts planRemoteChange), in server order, while
 * the next page is on its way; the final rows, clocks, conflict entries, search index and review
 * pairs are then written once each in the setup transaction, instead of being read and rewritten
 * per change. Every other entity (users, branches) goes
 * through applyRemoteChange in server order, before the patients are written (patients refer to
 * branches). The result is what applying every change one by one would store (tested in
 * join-apply.test.ts against applyRemoteChange on random change logs).
 *
 * Only for a database that holds no patient yet: the in-memory merge starts from empty rows.
 */
import type { ChangeRecord, EntityName, FieldValue } from '../../../shared/sync/change.js';
import { REPLICATED_ENTITIES } from '../../../shared/sync/change.js';
import { type ConflictEntry, EMPTY_ROW_STATE } from '../../../shared/sync/merge.js';
import { PatientPairsInMemory } from '../conflicts/patient-pairs-memory.js';
import type { WriteDb } from '../db/access.js';
import { duplicateKey } from '../patients/duplicate-key.js';
import { INDEX_PATIENT_SQL, searchColumns } from '../patients/patient-search.js';
import { fieldsClockedByChange, newer, rowStateOf } from './field-clocks.js';
import { applyRemoteChange, appliedKeyColumn, logConflicts, planRemoteChange } from './sync-apply.js';

/** The entities merged in memory, in the order their rows are written (medical histories refer to patients). */
const IN_MEMORY_ENTITIES = ['patient', 'patient_medical'] as const satisfies readonly EntityName[];
type InMemoryEntity = (typeof IN_MEMORY_ENTITIES)[number];

function isInMemory(entity: EntityName): entity is InMemoryEntity {
  return (IN_MEMORY_ENTITIES as readonly string[]).includes(entity);
}

const NO_UPDATES: ReadonlyMap<string, string> = new Map();

/** One row as the in-memory merge holds it: what the table and the clock tables would. */
interface HeldRow {
  /** The table row (every column written so far), or undefined while the row is not in the table. */
  row: Record<string, unknown> | undefined;
  insertedHlc: string | null;
  deletedHlc: string | null;
  /** Field update clocks (sync_field_clock); null until an update or delete (most rows only have an insert). */
  updated: Map<string, string> | null;
}

/** What a join applied. */
export interface JoinApplyResult {
  /** Changes applied (not skipped as an entity devices do not hold, rejected or refused). */
  readonly applied: number;
}

/**
 * The merge of a join, fed change by change in server order while the pages arrive
 * (setup.joinClinic's prepare phase), then written in the setup transaction.
 */
export class JoinMerge {
  private readonly rows: Record<InMemoryEntity, Map<string, HeldRow>> = {
    patient: new Map(),
    patient_medical: new Map(),
  };
  private readonly conflicts: ConflictEntry[] = [];
  private readonly pairs = new PatientPairsInMemory();
  /** Changes of the other entities, applied through applyRemoteChange when written. */
  private readonly others: ChangeRecord[] = [];
  private mergedInMemory = 0;
  private written = false;

  /** Merges the next change of the log (in server order). */
  add(change: ChangeRecord): void {
    if (this.written) throw new Error('the join was already written');
    if (!isInMemory(change.entity)) {
      this.others.push(change);
      return;
    }
    const entityRows = this.rows[change.entity];
    let held = entityRows.get(change.rowId);
    if (!held) {
      held = { row: undefined, insertedHlc: null, deletedHlc: null, updated: null };
      entityRows.set(change.rowId, held);
    }
    const values = held.row && replicatedValues(change.entity, held.row);
    const current =
      values === undefined && held.insertedHlc === null && held.deletedHlc === null
        ? EMPTY_ROW_STATE
        : rowStateOf(values, held, held.updated ?? NO_UPDATES);
    const plan = planRemoteChange(change, values, current);
    if (!plan) return;
    this.mergedInMemory++;
    // The clocks storeChangeClocks would store.
    for (const field of fieldsClockedByChange(change)) {
      held.updated ??= new Map();
      held.updated.set(field, newer(held.updated.get(field) ?? null, change.hlc)!);
    }
    held.insertedHlc = plan.state.insertedHlc;
    held.deletedHlc = plan.state.deletedHlc;
    this.conflicts.push(...plan.conflicts);
    if (!plan.write) return;
    // planRemoteChange makes a new row object for each plan, so an insert's row can be held as it is.
    held.row =
      plan.write.kind === 'insert'
        ? (plan.write.row as Record<string, unknown>)
        : Object.assign(held.row!, plan.write.row);
    if (change.entity === 'patient') this.pairs.refresh(change.rowId, patientKeysOf(change.rowId, held.row));
  }

  /**
   * Writes the merged clinic into a database that holds no patient yet, inside its transaction:
   * the other entities' changes in server order first, then the patients, their histories,
   * clocks, conflict entries, search index and review pairs. `now` stamps conflicts and pairs.
   */
  write(db: WriteDb, now: number): JoinApplyResult {
    if (!db.inTransaction) throw new Error('a join is applied inside a transaction');
    if (this.written) throw new Error('the join was already written');
    this.written = true;
    const held = db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM patients) + (SELECT count(*) FROM patient_medical)
         + (SELECT count(*) FROM sync_row_clock WHERE entity IN ('patient', 'patient_medical'))
         + (SELECT count(*) FROM sync_field_clock WHERE entity IN ('patient', 'patient_medical')) AS n`,
    );
    if (held.get()!.n !== 0) throw new Error('a join is applied to a database that holds no patient yet');
    let applied = this.mergedInMemory;
    for (const change of this.others) if (applyRemoteChange(db, change, now).applied) applied++;
    for (const entity of IN_MEMORY_ENTITIES) writeRows(db, entity, this.rows[entity], this.pairs);
    logConflicts(db, this.conflicts, now);
    this.pairs.write(db, now);
    return { applied };
  }
}

/** Applies every pulled change of a clinic to a database with no patient yet. Inside a transaction. */
export function applyJoinChanges(db: WriteDb, changes: readonly ChangeRecord[], now: number): JoinApplyResult {
  const merge = new JoinMerge();
  for (const change of changes) merge.add(change);
  return merge.write(db, now);
}

/** The replicated fields of a held table row (what readReplicatedFields would read). */
function replicatedValues(entity: InMemoryEntity, row: Readonly<Record<string, unknown>>): Record<string, FieldValue> {
  const values: Record<string, FieldValue> = {};
  for (const field of REPLICATED_ENTITIES[entity].fields) values[field] = row[field] as FieldValue;
  return values;
}

function patientKeysOf(id: string, row: Readonly<Record<string, unknown>>) {
  return {
    id,
    patientNumber: row.patient_number as string,
    mergedInto: (row.merged_into as string | null) ?? null,
    duplicateKey: duplicateKey({
      firstName: row.first_name as string,
      lastName: row.last_name as string,
      dateOfBirth: (row.date_of_birth as string | null) ?? null,
      phone: (row.phone as string | null) ?? null,
    }),
  };
}

/** Writes one entity's held rows, their clocks and (for patients) the search index. */
function writeRows(
  db: WriteDb,
  entity: InMemoryEntity,
  held: ReadonlyMap<string, HeldRow>,
  pairs: PatientPairsInMemory,
): void {
  const table = REPLICATED_ENTITIES[entity].table;
  const key = appliedKeyColumn(entity)!;
  const columns = [key, ...REPLICATED_ENTITIES[entity].fields, 'updated_at', 'updated_by'];
  if (entity === 'patient') columns.push('duplicate_key');
  // Identifiers come from the constant entity declarations.
  const insertRow = db.command(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map((column) => `@${column}`).join(', ')})`,
  );
  const insertIndex = db.command(INDEX_PATIENT_SQL);
  const insertRowClock = db.command(
    'INSERT INTO sync_row_clock (entity, row_id, inserted_hlc, deleted_hlc) VALUES (?, ?, ?, ?)',
  );
  const insertFieldClock = db.command('INSERT INTO sync_field_clock (entity, row_id, field, hlc) VALUES (?, ?, ?, ?)');
  for (const [rowId, { row, insertedHlc, deletedHlc, updated }] of held) {
    if (insertedHlc !== null || deletedHlc !== null) insertRowClock.run([entity, rowId, insertedHlc, deletedHlc]);
    for (const [field, hlc] of updated ?? NO_UPDATES) insertFieldClock.run([entity, rowId, field, hlc]);
    if (!row) continue;
    if (entity !== 'patient') {
      insertRow.run(row);
      continue;
    }
    const { lastInsertRowid } = insertRow.run({ ...row, duplicate_key: pairs.keyOf(rowId) });
    insertIndex.run([
      lastInsertRowid,
      ...searchColumns({
        firstName: row.first_name as string,
        lastName: row.last_name as string,
        phone: (row.phone as string | null) ?? null,
        patientNumber: row.patient_number as string,
        dateOfBirth: (row.date_of_birth as string | null) ?? null,
      }),
    ]);
  }
}
