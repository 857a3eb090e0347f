/**
 * Change capture: handlers call these inside the pipeline's transaction, right after their write,
 * so the outbox row, the field clocks and the write commit or roll back together (see the Sync
 * section of the architecture document and docs/sync-protocol.md, "Change capture and merge").
 *
 * Values go to the outbox only, which lives in the encrypted database; the audit trail keeps
 * naming fields, never values.
 */
import { canonicalJson } from '../../../shared/canonical-json.js';
import {
  type ChangeOp,
  type ChangeRecord,
  type EntityName,
  type FieldValue,
  SYNC_SCHEMA_VERSION,
  changeRecordSchema,
} from '../../../shared/sync/change.js';
import { declarationOf, domainRefusal, fieldDeclaration, fieldNames } from '../../../shared/sync/entities.js';
import { type Hlc, encodeHlc, initialHlc, parseHlc, tick } from '../../../shared/sync/hlc.js';
import { type UserSigner, signBatch } from '../auth/user-keys.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import { storeChangeClocks } from './field-clocks.js';
import { type ReplicationHooks, computedReader } from './replication-hooks.js';

/**
 * What capture needs of a handler's run context (api/handler.ts RunContext has it all): declared
 * here so sync does not depend on the API layer that depends on it.
 */
export interface CaptureContext {
  readonly db: WriteDb;
  readonly now: number;
  readonly caller: { readonly userId: string } | null;
  readonly services: {
    readonly clinic: { readonly device: { readonly deviceId: string } | null };
    readonly sources: { readonly ids: { next(): string } };
    readonly replication: ReplicationHooks;
  };
}

/** A replicated row's fields as stored (column name → value). */
export type RowFields = Record<string, FieldValue>;

/** What a handler says about its write. */
export interface ChangeInput {
  readonly entity: EntityName;
  readonly rowId: string;
  readonly op: ChangeOp;
  readonly fields: RowFields;
}

/** The changes one pipeline call recorded, under its transaction id. */
interface RecordedTransaction {
  readonly txId: string;
  readonly changes: ChangeRecord[];
}

// One transaction id per pipeline call: the RunContext lives exactly as long as its transaction.
const transactions = new WeakMap<CaptureContext, RecordedTransaction>();

/**
 * Records one change of the caller's transaction: ticks the device's hybrid logical clock with
 * the injected clock's time, appends the outbox row and advances the row and field clocks
 * (field-clocks.ts).
 * Returns null, writing nothing, for an update that changes no field.
 */
export function recordChange(ctx: CaptureContext, input: ChangeInput): ChangeRecord | null {
  if (!ctx.db.inTransaction) throw new Error('recordChange must run inside the pipeline transaction');
  if (input.op === 'update' && Object.keys(input.fields).length === 0) return null;
  const device = ctx.services.clinic.device;
  if (!device) throw new Error('no device identity to record a change with');
  if (!ctx.caller) throw new Error('a replicated change needs the user who made it');

  let recorded = transactions.get(ctx);
  if (recorded === undefined) {
    recorded = { txId: ctx.services.sources.ids.next(), changes: [] };
    transactions.set(ctx, recorded);
  }
  const { txId } = recorded;
  const hlc = encodeHlc(nextLocalHlc(ctx.db, device.deviceId, ctx.now));
  // Parsed before anything is written: a field the entity does not declare is a bug, not data.
  const change = changeRecordSchema.parse({
    changeId: ctx.services.sources.ids.next(),
    txId,
    deviceId: device.deviceId,
    userId: ctx.caller.userId,
    entity: input.entity,
    rowId: input.rowId,
    op: input.op,
    fields: input.fields,
    hlc,
    schemaVersion: SYNC_SCHEMA_VERSION,
  } satisfies ChangeRecord);
  // The values too, against the entity's domain schemas: the server would quarantine the whole
  // local transaction for one of them, so a bad value fails the write here instead.
  const refusal = domainRefusal(change);
  if (refusal !== null) throw new Error(`recordChange: ${change.entity} ${refusal}`);

  ctx.db
    .command(
      `INSERT INTO sync_outbox (change_id, tx_id, device_id, user_id, entity, row_id, op, fields, hlc, schema_version,
         created_at)
       VALUES (@changeId, @txId, @deviceId, @userId, @entity, @rowId, @op, @fields, @hlc, @schemaVersion, @now)`,
    )
    .run({ ...change, fields: canonicalJson(change.fields), now: ctx.now });
  storeChangeClocks(ctx.db, change);
  recorded.changes.push(change);
  return change;
}

/** Who signs a transaction: a user, with their opened signing key. */
export interface TransactionSigner {
  readonly userId: string;
  readonly signer: UserSigner;
}

/**
 * Signs the changes a pipeline call recorded, once, with the key of the user whose session made
 * them (docs/sync-protocol.md, "User-signed changes"); the pipeline calls it inside the call's
 * transaction, after the handler. The signer is the changes' author, except for the rows an Admin
 * uploads when connecting a clinic, which keep their authors (sync-handlers.ts). Without a signer
 * (a user made before signing keys, until they get one) the transaction stays unsigned, and the
 * server accepts that only from such a user.
 */
export function sealTransaction(ctx: CaptureContext, signedBy: TransactionSigner | null): void {
  const recorded = transactions.get(ctx);
  if (!recorded || recorded.changes.length === 0 || !signedBy) return;
  transactions.delete(ctx);
  ctx.db
    .command('INSERT INTO sync_outbox_signatures (tx_id, user_id, signature) VALUES (?, ?, ?)')
    .run([recorded.txId, signedBy.userId, signBatch(signedBy.signer, recorded.txId, recorded.changes)]);
}

/** True when a replicated field is computed from other tables (declared `column: false`), not a column. */
export function isComputedField(entity: EntityName, field: string): boolean {
  return fieldDeclaration(entity, field)?.column === false;
}

/** The replicated fields of a row as stored now, or undefined when there is no such row. */
export function readReplicatedFields(
  db: ReadDb,
  entity: EntityName,
  rowId: string,
  hooks: ReplicationHooks,
): RowFields | undefined {
  const declaration = declarationOf(entity);
  const fields = fieldNames(entity);
  if (fields.length === 0) throw new Error(`${entity} has no replicated fields yet`);
  const columns = fields.filter((field) => !isComputedField(entity, field));
  // Identifiers come from the constant entity declarations, never from input.
  const row = db
    .query<RowFields>(`SELECT ${columns.join(', ')} FROM ${declaration.table} WHERE ${declaration.key} = ?`)
    .get([rowId]);
  if (!row) return undefined;
  for (const field of fields) {
    const read = computedReader(hooks, entity, field);
    if (read) row[field] = read(db, rowId);
  }
  return row;
}

/**
 * Records the change a handler just made to one row, given the row's replicated fields before the
 * write (undefined when the write created it): an insert with every field, or an update with the
 * fields whose value changed. Returns null when nothing changed.
 */
export function recordRowChange(
  ctx: CaptureContext,
  entity: EntityName,
  rowId: string,
  before: RowFields | undefined,
  /**
   * Fields the user explicitly set, recorded even when this device already held the value: on
   * another device the field may hold an older, different value, and the user's later write must
   * win there too (last writer wins counts writes, not differences).
   */
  setFields: readonly string[] = [],
): ChangeRecord | null {
  const after = readReplicatedFields(ctx.db, entity, rowId, ctx.services.replication);
  if (!after) throw new Error(`recordRowChange: the ${entity} row is missing after the write`);
  if (!before) return recordChange(ctx, { entity, rowId, op: 'insert', fields: after });
  const fields = changedFields(before, after);
  for (const field of setFields) if (Object.hasOwn(after, field)) fields[field] = after[field]!;
  return recordChange(ctx, { entity, rowId, op: 'update', fields });
}

/** The fields of `after` whose value differs from `before`. */
export function changedFields(before: RowFields, after: RowFields): RowFields {
  return Object.fromEntries(Object.entries(after).filter(([field, value]) => before[field] !== value));
}

/**
 * The device's next timestamp. The stored clock is rebuilt with the current device id: a cloned
 * or restored database gets a new device id but must keep counting from where it was.
 */
function nextLocalHlc(db: WriteDb, deviceId: string, nowMs: number): Hlc {
  const stored = db.query<{ hlc: string }>('SELECT hlc FROM sync_clock').get();
  const last = stored ? parseHlc(stored.hlc) : initialHlc(deviceId);
  const next = tick({ wallMs: last.wallMs, counter: last.counter, deviceId }, nowMs);
  db.command(
    `INSERT INTO sync_clock (singleton, hlc) VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE SET hlc = excluded.hlc`,
  ).run([encodeHlc(next)]);
  return next;
}

/**
 * Records a write of a user row, once the clinic is connected to a sync server. Before that,
 * sync.connect's snapshot uploads every user (the connecting Admin's own row first, which the
 * server's directory accepts as its founder); a change recorded earlier would be pushed ahead of
 * it and quarantined as `unknown-user`.
 */
export function recordUserChange(ctx: CaptureContext, userId: string, before: RowFields | undefined): void {
  if (!ctx.db.query<{ one: number }>('SELECT 1 AS one FROM sync_identity').get()) return;
  recordRowChange(ctx, 'user', userId, before);
}
