/**
 * Applies a whole clinic's change log (or snapshot) to a new device (setup.joinClinic), fast
 * enough for a clinic of 100,000 patients (docs/sync-protocol.md, "Joining a clinic").
 *
 * Patients and their medical histories are most of the log. The changes of every entity that can
 * be joined in bulk (replication-hooks.ts: no computed field, and no per-change hook unless its
 * domain gives a bulk writer) are merged in memory, with the same plan as a pulled page
 * (sync-apply.ts planRemoteChange), in server order, while the next page is on its way; the final
 * rows, clocks and conflict entries are then written once each in the setup transaction, with
 * what the entity's domain adds (the patients' search index and review pairs), instead of being
 * read and rewritten per change. Every other entity (users, branches) goes through
 * applyRemoteChange in server order, before the bulk entities are written in their declared
 * upload order (patients refer to branches, histories to patients). The result is what applying
 * every change one by one would store (tested in join-apply.test.ts against applyRemoteChange on
 * random change logs).
 *
 * Only for a database that holds no row of the bulk entities yet: the in-memory merge starts from
 * empty rows.
 */
import type { ChangeRecord, EntityName, FieldValue } from '../../../shared/sync/change.js';
import { REPLICATED_ENTITIES } from '../../../shared/sync/change.js';
import { validatedHlcWallMs } from '../../../shared/sync/hlc.js';
import { type ConflictEntry, EMPTY_ROW_STATE } from '../../../shared/sync/merge.js';
import { type SnapshotRow, snapshotRowChanges } from '../../../shared/sync/snapshot.js';
import { ENTITY_NAMES, declarationOf } from '../../../shared/sync/entities.js';
import type { WriteDb } from '../db/access.js';
import { isComputedField } from './change-recorder.js';
import { fieldsClockedByChange, newer, rowStateOf } from './field-clocks.js';
import type { BulkJoinWriter, ReplicationHooks } from './replication-hooks.js';
import { applyRemoteChange, logConflicts, planRemoteChange } from './sync-apply.js';

/**
 * The entities a join merges in memory and writes in bulk, in the order their rows are written
 * (their declared upload order: medical histories refer to patients).
 */
export function bulkJoinedEntities(hooks: ReplicationHooks): EntityName[] {
  return ENTITY_NAMES.filter((entity) => {
    const declaration = declarationOf(entity);
    if (!declaration.appliedOnDevices) return false;
    if (Object.keys(declaration.fields).some((field) => isComputedField(entity, field))) return false;
    const entityHooks = hooks[entity];
    return entityHooks.bulkJoin !== undefined || (!entityHooks.afterWrite && !entityHooks.refusesNewRow);
  }).sort((a, b) => declarationOf(a).upload.order - declarationOf(b).upload.order);
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
  /** The held rows of each bulk entity, in write order. */
  private readonly rows = new Map<EntityName, Map<string, HeldRow>>();
  /** What each bulk entity's domain adds, where it adds something. */
  private readonly writers = new Map<EntityName, BulkJoinWriter>();
  private readonly conflicts: ConflictEntry[] = [];
  /** Changes of the other entities, applied through applyRemoteChange when written. */
  private readonly others: ChangeRecord[] = [];
  private mergedInMemory = 0;
  private written = false;

  constructor(private readonly hooks: ReplicationHooks) {
    for (const entity of bulkJoinedEntities(hooks)) {
      this.rows.set(entity, new Map());
      const writer = hooks[entity].bulkJoin?.();
      if (writer) this.writers.set(entity, writer);
    }
  }

  /** Merges the next change of the log (in server order). */
  add(change: ChangeRecord): void {
    if (this.written) throw new Error('the join was already written');
    const entityRows = this.rows.get(change.entity);
    if (!entityRows) {
      this.others.push(change);
      return;
    }
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
    this.writers.get(change.entity)?.rowChanged(change.rowId, held.row);
  }

  /**
   * Merges one row of a clinic snapshot (shared/sync/snapshot.ts). A row of a patient or medical
   * history seen for the first time, inserted, never deleted or updated, and carrying every field
   * is held directly as the table row merging its insert would write (the columns planRemoteChange
   * writes for a new row, learnt once per entity); it is most of a snapshot, and the merge of each
   * would cost a snapshot join about a third of its time in field objects and their collection.
   * Any other row goes through `add`, change by change (snapshotRowChanges).
   */
  addSnapshotRow(entity: EntityName, row: SnapshotRow): void {
    this.addSnapshotRows(entity, [row]);
  }

  /** Merges rows of one entity of a clinic snapshot, in order, as addSnapshotRow does for each. */
  addSnapshotRows(entity: EntityName, rows: readonly SnapshotRow[]): void {
    if (this.written) throw new Error('the join was already written');
    const entityRows = this.rows.get(entity);
    const columns = entityRows ? newRowColumns(entity) : null;
    const fields = REPLICATED_ENTITIES[entity].fields;
    const writer = this.writers.get(entity);
    for (const row of rows) {
      if (
        !entityRows ||
        !columns ||
        row.ins === undefined ||
        row.del !== undefined ||
        row.upd !== undefined ||
        entityRows.has(row.id) ||
        !fields.every((field) => Object.hasOwn(row.val, field))
      ) {
        for (const change of snapshotRowChanges(entity, row)) this.add(change);
        continue;
      }
      const tableRow: Record<string, unknown> = {};
      for (const [column, source] of columns) {
        tableRow[column] =
          source === 'key'
            ? row.id
            : source === 'updated_at'
              ? validatedHlcWallMs(row.ins)
              : source === 'updated_by'
                ? row.by
                : row.val[source];
      }
      entityRows.set(row.id, { row: tableRow, insertedHlc: row.ins, deletedHlc: null, updated: null });
      this.mergedInMemory++;
      writer?.rowChanged(row.id, tableRow);
    }
  }

  /**
   * Writes the merged clinic into a database that holds no row of the bulk entities yet, inside
   * its transaction: the other entities' changes in server order first, then the bulk entities'
   * rows, clocks and what their domains add, then the conflict entries. `now` stamps conflicts
   * and what the domains write (review pairs).
   */
  write(db: WriteDb, now: number): JoinApplyResult {
    if (!db.inTransaction) throw new Error('a join is applied inside a transaction');
    if (this.written) throw new Error('the join was already written');
    this.written = true;
    for (const entity of this.rows.keys()) {
      // Identifiers come from the constant entity declarations.
      const held = db.query<{ n: number }>(
        `SELECT (SELECT count(*) FROM ${declarationOf(entity).table})
           + (SELECT count(*) FROM sync_row_clock WHERE entity = ?)
           + (SELECT count(*) FROM sync_field_clock WHERE entity = ?) AS n`,
      );
      if (held.get([entity, entity])!.n !== 0) {
        throw new Error(`a join is applied to a database that holds no ${entity} yet`);
      }
    }
    let applied = this.mergedInMemory;
    for (const change of this.others) if (applyRemoteChange(db, change, now, this.hooks).applied) applied++;
    for (const [entity, held] of this.rows) {
      const writer = this.writers.get(entity);
      writeRows(db, entity, held, writer);
      writer?.finish(db, now);
    }
    logConflicts(db, this.conflicts, now);
    return { applied };
  }
}

/** Applies every pulled change of a clinic to a database with no row yet. Inside a transaction. */
export function applyJoinChanges(
  db: WriteDb,
  changes: readonly ChangeRecord[],
  now: number,
  hooks: ReplicationHooks,
): JoinApplyResult {
  const merge = new JoinMerge(hooks);
  for (const change of changes) merge.add(change);
  return merge.write(db, now);
}

/** Where each column of a new row comes from: the row key, a stamp, or a replicated field. */
type ColumnSource = 'key' | 'updated_at' | 'updated_by' | string;

const newRowColumnsByEntity = new Map<EntityName, ReadonlyArray<readonly [string, ColumnSource]>>();

/**
 * The columns planRemoteChange writes for a new row of the entity, and where each comes from,
 * learnt from the plan of a probe insert (so the fast path of addSnapshotRow writes what the
 * plan would); null when a column's source cannot be told apart.
 */
function newRowColumns(entity: EntityName): ReadonlyArray<readonly [string, ColumnSource]> | null {
  const known = newRowColumnsByEntity.get(entity);
  if (known) return known;
  const probeId = '0PROBEROW0000000000000000Z';
  const probeUser = '0PROBEUSER000000000000000Z';
  const hlc = '000000000001-0000-0PROBEDEVICE00000000000000Z';
  const fields = REPLICATED_ENTITIES[entity].fields as readonly string[];
  // Each field gets a value of its own, so the plan's row tells which column holds which field.
  const values = Object.fromEntries(fields.map((field) => [field, `probe:${field}`]));
  const plan = planRemoteChange(
    {
      changeId: probeId,
      txId: probeId,
      deviceId: '0PROBEDEVICE00000000000000Z',
      userId: probeUser,
      entity,
      rowId: probeId,
      op: 'insert',
      fields: values,
      hlc,
      schemaVersion: 1,
    },
    undefined,
    EMPTY_ROW_STATE,
  );
  if (plan?.write?.kind !== 'insert') return null;
  const columns: Array<readonly [string, ColumnSource]> = [];
  for (const [column, value] of Object.entries(plan.write.row)) {
    if (value === probeId) columns.push([column, 'key']);
    else if (value === probeUser) columns.push([column, 'updated_by']);
    else if (value === validatedHlcWallMs(hlc)) columns.push([column, 'updated_at']);
    else if (typeof value === 'string' && value.startsWith('probe:') && fields.includes(value.slice(6))) {
      columns.push([column, value.slice(6)]);
    } else return null;
  }
  newRowColumnsByEntity.set(entity, columns);
  return columns;
}

/** The replicated fields of a held table row (what readReplicatedFields would read). */
function replicatedValues(entity: EntityName, row: Readonly<Record<string, unknown>>): Record<string, FieldValue> {
  const values: Record<string, FieldValue> = {};
  for (const field of REPLICATED_ENTITIES[entity].fields) values[field] = row[field] as FieldValue;
  return values;
}

/**
 * Writes one entity's held rows (the columns planRemoteChange writes for a new row: key, stamps,
 * replicated columns), their clocks, and what its domain adds to each row and beside it.
 *
 * Values are bound by position from one reused array: at 200,000 rows, binding by name from a
 * spread object per row cost a join about half a second. The table's secondary indexes are
 * dropped before the rows and created again after them, in the same transaction (the table is
 * empty: write() checked), since building an index once from the rows costs less than growing it
 * row by row in random key order.
 */
function writeRows(
  db: WriteDb,
  entity: EntityName,
  held: ReadonlyMap<string, HeldRow>,
  writer: BulkJoinWriter | undefined,
): void {
  const { table, key, localStamp } = declarationOf(entity);
  const stamps = localStamp === 'both' ? ['updated_at', 'updated_by'] : localStamp === 'at' ? ['updated_at'] : [];
  const rowColumns = [
    key,
    ...REPLICATED_ENTITIES[entity].fields.filter((field) => !isComputedField(entity, field)),
    ...stamps,
  ];
  const extraColumns = writer?.extraColumns ?? [];
  const columns = [...rowColumns, ...extraColumns];
  // Identifiers come from the constant entity declarations and the domain's own column names.
  const insertRow = db.command(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  );
  const insertRowClock = db.command(
    'INSERT INTO sync_row_clock (entity, row_id, inserted_hlc, deleted_hlc) VALUES (?, ?, ?, ?)',
  );
  const insertFieldClock = db.command('INSERT INTO sync_field_clock (entity, row_id, field, hlc) VALUES (?, ?, ?, ?)');
  const values: unknown[] = new Array<unknown>(columns.length);
  const rowClock: unknown[] = [entity, '', null, null];
  const restoreIndexes = dropSecondaryIndexes(db, table);
  for (const [rowId, { row, insertedHlc, deletedHlc, updated }] of held) {
    if (insertedHlc !== null || deletedHlc !== null) {
      rowClock[1] = rowId;
      rowClock[2] = insertedHlc;
      rowClock[3] = deletedHlc;
      insertRowClock.run(rowClock);
    }
    for (const [field, hlc] of updated ?? NO_UPDATES) insertFieldClock.run([entity, rowId, field, hlc]);
    if (!row) continue;
    for (let i = 0; i < rowColumns.length; i++) values[i] = columnValue(row, rowColumns[i]!);
    if (!writer) {
      insertRow.run(values);
      continue;
    }
    const extra = writer.extraValues(rowId);
    for (let i = 0; i < extraColumns.length; i++) values[rowColumns.length + i] = columnValue(extra, extraColumns[i]!);
    const { lastInsertRowid } = insertRow.run(values);
    writer.inserted(db, lastInsertRowid, row);
  }
  restoreIndexes();
}

/** A column's value in a row object; a missing one fails as binding it by name did. */
function columnValue(row: Readonly<Record<string, unknown>>, column: string): unknown {
  const value = row[column];
  if (value === undefined) throw new Error(`a joined row has no value for ${column}`);
  return value;
}

/**
 * Drops a table's secondary indexes (those with SQL: not its primary key or UNIQUE constraints,
 * which the inserts must keep checking) and returns what creates them again from the same SQL.
 * Inside the join's transaction: a failure rolls both back.
 */
function dropSecondaryIndexes(db: WriteDb, table: string): () => void {
  const indexes = db
    .query<{ name: string; sql: string }>(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
    )
    .all([table]);
  // Index names come from the schema itself, quoted as identifiers.
  for (const index of indexes) db.execScript(`DROP INDEX "${index.name.replaceAll('"', '""')}"`);
  return () => {
    for (const index of indexes) db.execScript(index.sql);
  };
}
