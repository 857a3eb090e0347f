/**
 * The writes devices acknowledged to their users (the API call returned success), field by field,
 * with the HLC each write got on its device. Read back through a second connection right after the
 * call returned, so what is recorded is what the device committed.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import { REPLICATED_ENTITIES } from '../../../shared/sync/change.js';
import type { FieldValue } from '../../../shared/sync/change.js';
import { ENTITY_NAMES, type EntityName, declarationOf } from '../../../shared/sync/entities.js';
import { newer } from '../../../main/core/sync/field-clocks.js';

/** The entities the model writes: those devices apply (entity-coverage.ts says which actions write what). */
export type WrittenEntity = EntityName;

/** The key column of each entity's table, as declared. */
export const KEY_COLUMN: Readonly<Record<EntityName, string>> = Object.fromEntries(
  ENTITY_NAMES.map((entity) => [entity, declarationOf(entity).key]),
) as Record<EntityName, string>;

/**
 * A user's branch assignments as the replicated `branch_ids` field holds them: the JSON of the
 * sorted ids, assignments pulled ahead of their branch included (users/user-replication.ts userBranchIds,
 * read here with the observer's own SQL so the check does not trust the code it checks).
 */
function branchIdsOf(raw: Database.Database, userId: string): string {
  const ids = raw
    .prepare(
      `SELECT branch_id FROM user_branches WHERE user_id = ?
       UNION SELECT branch_id FROM sync_pending_user_branches WHERE user_id = ? ORDER BY branch_id`,
    )
    .all(userId, userId) as Array<{ branch_id: string }>;
  return JSON.stringify(ids.map((row) => row.branch_id));
}

/** One field of one acknowledged write. */
export interface AcknowledgedWrite {
  readonly device: string;
  readonly entity: WrittenEntity;
  readonly rowId: string;
  readonly field: string;
  readonly value: FieldValue;
  readonly hlc: string;
  /** What the model did, for failure messages. */
  readonly step: number;
}

/** The stored value and field clock of one field on a device; undefined when the row is absent. */
export function readField(
  raw: Database.Database,
  entity: WrittenEntity,
  rowId: string,
  field: string,
): { value: FieldValue; hlc: string | null } | undefined {
  const definition = REPLICATED_ENTITIES[entity];
  // Identifiers only from the constant entity declarations.
  if (!(definition.fields as readonly string[]).includes(field)) throw new Error(`${entity} has no field ${field}`);
  const computed = entity === 'user' && field === 'branch_ids';
  const row = raw
    .prepare(`SELECT ${computed ? 'NULL' : field} AS value FROM ${definition.table} WHERE ${KEY_COLUMN[entity]} = ?`)
    .get(rowId) as { value: FieldValue } | undefined;
  if (!row) return undefined;
  if (computed) row.value = branchIdsOf(raw, rowId);
  // The field's clock: its own update clock or the row's insert clock, the newer (field-clocks.ts).
  const clock = raw
    .prepare(
      `SELECT (SELECT hlc FROM sync_field_clock WHERE entity = @entity AND row_id = @rowId AND field = @field) AS updated,
              (SELECT inserted_hlc FROM sync_row_clock WHERE entity = @entity AND row_id = @rowId) AS inserted`,
    )
    .get({ entity, rowId, field }) as { updated: string | null; inserted: string | null };
  return { value: row.value, hlc: newer(clock.updated, clock.inserted) };
}

/** Collects acknowledged writes as the model runs. */
export class AcknowledgedWriteLog {
  readonly writes: AcknowledgedWrite[] = [];

  /** Records the fields a successful call wrote, as the device stored them. */
  record(
    raw: Database.Database,
    device: string,
    entity: WrittenEntity,
    rowId: string,
    fields: readonly string[],
    step: number,
  ): void {
    for (const field of fields) {
      const stored = readField(raw, entity, rowId, field);
      if (!stored)
        throw new Error(`step ${step}: ${device} acknowledged a write of ${entity} ${rowId} it does not hold`);
      if (stored.hlc === null) {
        throw new Error(`step ${step}: ${device} acknowledged ${entity}.${field} of ${rowId} without a field clock`);
      }
      this.writes.push({ device, entity, rowId, field, value: stored.value, hlc: stored.hlc, step });
    }
  }
}
