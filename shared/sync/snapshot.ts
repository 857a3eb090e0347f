/**
 * The clinic snapshot (docs/sync-protocol.md, "Snapshot bootstrap"): the clinic's replicated rows
 * as the change log leaves them at one server cursor, so a joining device (or one restored from a
 * backup older than the compaction horizon) starts from the rows instead of replaying the log,
 * then pulls the changes after the cursor.
 *
 * Each row carries what a device keeps for it (main/core/sync/field-clocks.ts): its highest insert
 * and delete HLC, the HLC of the newest update or delete of each field, and the merged value of
 * each field (shared/sync/merge.ts: last writer wins by HLC). Rows are cut into chunks of one
 * entity each; a manifest names the cursor, every chunk's SHA-256 over its exact bytes and its row
 * count, and is signed by the server's Ed25519 checkpoint key under its own domain tag, so a device
 * that pinned that key refuses a truncated, reordered, altered or forged snapshot before it writes
 * anything. Hashing and signing are node:crypto's, on each end (sync-server/snapshot/,
 * main/core/sync/snapshot-fetch.ts): shared/ only declares the format and its pure parts.
 *
 * A device applies a row as the few changes it stands for (`snapshotRowChanges`): the insert with
 * every value, then one update per distinct field clock (raising the fields it set), and the
 * delete. Merging those gives the row's values and clocks, through the same merge a pulled change
 * goes through, so a row merges alike into an empty database (a join) and into one that holds
 * older or newer versions of it (a device restored from a backup): its own newer writes win.
 */
import { z } from 'zod';
import { type ChangeRecord, type EntityName, type FieldValue, REPLICATED_ENTITIES } from './change.js';
import { encodedHlcDeviceId } from './hlc.js';
import { EMPTY_ROW_STATE, type RowState, mergeChange } from './merge.js';

/** The snapshot format; a device refuses any other. */
export const SNAPSHOT_FORMAT = 'chairside-snapshot/v1';

/**
 * Prefix of the signed message: the tag, then the manifest's exact text. The server's checkpoint
 * key also signs checkpoint notes, whose text starts with their origin (`chairside/clinic-audit/`),
 * so neither signature can pass for the other.
 */
export const SNAPSHOT_SIGNATURE_DOMAIN = 'chairside/snapshot-manifest/v1\n';

/** Rows in one chunk: about 1.5 MB of patients, a few milliseconds to hash and parse. */
export const SNAPSHOT_CHUNK_ROWS = 5000;

/** Most chunks a manifest may name (10 million rows). */
export const MAX_SNAPSHOT_CHUNKS = 2000;

/** Largest manifest text, in UTF-16 units. */
export const MAX_SNAPSHOT_MANIFEST_LENGTH = 512 * 1024;

/**
 * The order entities are applied in: branches, then users (their branch assignments name
 * branches), then the rest as declared (patients before their medical histories).
 */
export const SNAPSHOT_ENTITY_ORDER: readonly EntityName[] = [
  'branch',
  'user',
  ...(Object.keys(REPLICATED_ENTITIES) as EntityName[]).filter((entity) => entity !== 'branch' && entity !== 'user'),
];

/** A snapshot's id: 16 random bytes in hex. */
export const snapshotIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits');
const sha256HexSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256');
const countSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const entitySchema = z.enum(Object.keys(REPLICATED_ENTITIES) as [EntityName, ...EntityName[]]);

/** One chunk's entry in the manifest. */
export const snapshotChunkEntrySchema = z.strictObject({
  index: countSchema,
  entity: entitySchema,
  rows: z.number().int().min(1).max(SNAPSHOT_CHUNK_ROWS),
  /** Length of the chunk in bytes (UTF-8). */
  bytes: z
    .number()
    .int()
    .min(2)
    .max(64 * 1024 * 1024),
  /** SHA-256 of the chunk's exact bytes. */
  sha256: sha256HexSchema,
});
export type SnapshotChunkEntry = z.infer<typeof snapshotChunkEntrySchema>;

/** The manifest: what the server signs. */
export const snapshotManifestSchema = z
  .strictObject({
    format: z.literal(SNAPSHOT_FORMAT),
    snapshotId: snapshotIdSchema,
    /** The server's clinic id: a snapshot of another clinic is refused. */
    clinicId: z.string().min(1).max(64),
    /** The server cursor (server_seq) the rows stand at; the device pulls the changes after it. */
    cursor: countSchema,
    /** When the server built it (ms). */
    createdAt: countSchema,
    chunks: z.array(snapshotChunkEntrySchema).max(MAX_SNAPSHOT_CHUNKS),
    /** Rows per entity, over every chunk. */
    rows: z.partialRecord(entitySchema, countSchema),
  })
  .superRefine((manifest, context) => {
    const totals = new Map<string, number>();
    for (const [position, chunk] of manifest.chunks.entries()) {
      if (chunk.index !== position) {
        context.addIssue({ code: 'custom', path: ['chunks', position], message: 'chunks out of order' });
      }
      totals.set(chunk.entity, (totals.get(chunk.entity) ?? 0) + chunk.rows);
    }
    for (const entity of entitySchema.options) {
      if ((manifest.rows[entity] ?? 0) !== (totals.get(entity) ?? 0)) {
        context.addIssue({ code: 'custom', path: ['rows', entity], message: 'row counts disagree with the chunks' });
      }
    }
  });
export type SnapshotManifest = z.infer<typeof snapshotManifestSchema>;

/** The signed manifest as the server answers it: the manifest's exact text and its signature. */
export const signedSnapshotManifestSchema = z.strictObject({
  /** The manifest's JSON text, exactly as signed. */
  manifest: z.string().min(2).max(MAX_SNAPSHOT_MANIFEST_LENGTH),
  /** Ed25519 signature (canonical base64) of SNAPSHOT_SIGNATURE_DOMAIN followed by the manifest text. */
  signature: z.string().length(88),
});
export type SignedSnapshotManifest = z.infer<typeof signedSnapshotManifestSchema>;

/** One row of a snapshot, any entity (the type code works with). */
export interface SnapshotRow {
  /** The row id. */
  readonly id: string;
  /** Highest insert HLC; absent while no insert reached the row. */
  readonly ins?: string;
  /** Highest delete HLC; absent when never deleted. */
  readonly del?: string;
  /** HLC of the newest update or delete of each field (sync_field_clock); absent when none. */
  readonly upd?: Readonly<Record<string, string>>;
  /** Each field's merged value (fields no change has set are absent). */
  readonly val: Readonly<Record<string, FieldValue>>;
  /** The user of the newest change that set a field: the row's `updated_by` on devices. */
  readonly by: string;
}

/**
 * A row on the wire, compact (a clinic's snapshot is hundreds of thousands of rows, and a device
 * parses every one): `[id, ins, by, values]` with `values` in the order of the chunk's `fields`,
 * and a fifth element only when the row has more to say: `{del, upd, unset}`, `unset` naming the
 * positions of fields no change has set (their `values` entry is null and means nothing).
 */
export type SnapshotWireRow = readonly [
  string,
  string | null,
  string,
  readonly FieldValue[],
  (
    | {
        readonly del?: string | undefined;
        readonly upd?: Readonly<Record<string, string>> | undefined;
        readonly unset?: readonly number[] | undefined;
      }
    | undefined
  )?,
];

/** True for a value a field may hold (fieldValueSchema's check, without a union parse per value). */
function isFieldValue(value: unknown): value is FieldValue {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isSafeInteger(value))
  );
}

const ROW_ID = /^[0-9A-Za-z_-]{1,64}$/;

function isHlc(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 82 && encodedHlcDeviceId(value) !== null;
}

function isRowId(value: unknown): value is string {
  return typeof value === 'string' && ROW_ID.test(value);
}

/** True for a plain JSON object. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Whether a wire row is well formed for the entity's fields. One hand-written pass instead of a
 * zod tuple per row: at 200,000 rows zod's tuple, array and union parses took about 3 s of a
 * join's CPU, most of the device's share of the target; this checks the same things.
 */
function isWireRow(fields: readonly string[], row: unknown): row is SnapshotWireRow {
  if (!Array.isArray(row) || (row.length !== 4 && row.length !== 5)) return false;
  const [id, ins, by, values, extra] = row as unknown[];
  if (!isRowId(id) || !(ins === null || isHlc(ins)) || !isRowId(by)) return false;
  if (!Array.isArray(values) || values.length !== fields.length || !values.every(isFieldValue)) return false;
  if (row.length === 4) return true;
  if (!isRecord(extra)) return false;
  for (const [key, value] of Object.entries(extra)) {
    if (key === 'del') {
      if (!isHlc(value)) return false;
    } else if (key === 'upd') {
      if (!isRecord(value)) return false;
      for (const [field, hlc] of Object.entries(value)) if (!fields.includes(field) || !isHlc(hlc)) return false;
    } else if (key === 'unset') {
      if (!Array.isArray(value) || value.length > fields.length) return false;
      if (!value.every((position) => Number.isInteger(position) && position >= 0 && position < fields.length)) {
        return false;
      }
    } else return false;
  }
  return true;
}

/**
 * One entity's wire rows decoded into SnapshotRows (its declared fields only), or the position of
 * the first row that is not one. One pass over the rows the envelope's parse already held to an
 * array: a second zod array parse per chunk only copied them.
 */
function decodeWireRows(fields: readonly string[], rows: readonly unknown[]): SnapshotRow[] | number {
  const decoded: SnapshotRow[] = new Array<SnapshotRow>(rows.length);
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index];
    if (!isWireRow(fields, row)) return index;
    decoded[index] = decodeRow(fields, row);
  }
  return decoded;
}

function decodeRow(fields: readonly string[], wire: SnapshotWireRow): SnapshotRow {
  const [id, ins, by, values, extra] = wire;
  const val: Record<string, FieldValue> = {};
  for (let i = 0; i < fields.length; i++) val[fields[i]!] = values[i]!;
  // Most rows are a plain insert: built without spreading optional parts (200,000 rows a join).
  if (extra === undefined) return ins === null ? { id, val, by } : { id, ins, val, by };
  if (extra.unset) for (const position of extra.unset) delete val[fields[position]!];
  const row: { -readonly [Key in keyof SnapshotRow]: SnapshotRow[Key] } = { id, val, by };
  if (ins !== null) row.ins = ins;
  if (extra.del !== undefined) row.del = extra.del;
  if (extra.upd !== undefined) row.upd = extra.upd;
  return row;
}

/** A row in its wire form, for the chunk's fields. */
export function encodeSnapshotRow(fields: readonly string[], row: SnapshotRow): SnapshotWireRow {
  const values: FieldValue[] = [];
  const unset: number[] = [];
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (Object.hasOwn(row.val, field)) values.push(row.val[field]!);
    else {
      values.push(null);
      unset.push(i);
    }
  }
  const extra = {
    ...(row.del === undefined ? {} : { del: row.del }),
    ...(row.upd === undefined ? {} : { upd: row.upd }),
    ...(unset.length === 0 ? {} : { unset }),
  };
  return Object.keys(extra).length === 0
    ? [row.id, row.ins ?? null, row.by, values]
    : [row.id, row.ins ?? null, row.by, values, extra];
}

/** The fields a chunk of the entity carries, in wire order: the entity's declared fields. */
export function snapshotFieldsOf(entity: EntityName): readonly string[] {
  return REPLICATED_ENTITIES[entity].fields;
}

/** A chunk's envelope, rows not yet held to their entity (the wire declaration's answer). */
export const snapshotChunkEnvelopeSchema = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  snapshotId: snapshotIdSchema,
  index: countSchema,
  entity: entitySchema,
  /** The order of each row's values: the entity's declared fields. */
  fields: z.array(z.string().max(64)).max(256),
  rows: z.array(z.unknown()).max(SNAPSHOT_CHUNK_ROWS),
});

/** One chunk: rows of one entity. */
export interface SnapshotChunk {
  readonly format: typeof SNAPSHOT_FORMAT;
  readonly snapshotId: string;
  readonly index: number;
  readonly entity: EntityName;
  readonly rows: readonly SnapshotRow[];
}

/** A chunk as JSON, each row held to its entity's declared fields and decoded. */
export const snapshotChunkSchema: z.ZodType<SnapshotChunk, unknown> = snapshotChunkEnvelopeSchema.transform(
  (chunk, context) => {
    const fields = snapshotFieldsOf(chunk.entity);
    if (chunk.fields.length !== fields.length || chunk.fields.some((field, i) => field !== fields[i])) {
      context.addIssue({ code: 'custom', path: ['fields'], message: "not the entity's declared fields" });
      return z.NEVER;
    }
    const rows = decodeWireRows(fields, chunk.rows);
    if (typeof rows === 'number') {
      context.addIssue({ code: 'custom', path: ['rows', rows], message: `not a ${chunk.entity} row` });
      return z.NEVER;
    }
    return {
      format: chunk.format,
      snapshotId: chunk.snapshotId,
      index: chunk.index,
      entity: chunk.entity,
      rows,
    };
  },
);

/** Why a device refused a snapshot. */
export type SnapshotRefusal =
  | 'malformed-manifest'
  | 'signature'
  | 'other-clinic'
  | 'missing-chunk'
  | 'chunk-hash'
  | 'malformed-chunk'
  | 'chunk-mismatch';

/** Thrown when a snapshot fails a check; the device then writes nothing. */
export class SnapshotRefusedError extends Error {
  override readonly name = 'SnapshotRefusedError';
  constructor(readonly reason: SnapshotRefusal) {
    super(`snapshot refused: ${reason}`);
  }
}

/**
 * Checks a chunk already parsed from bytes whose hash matched its manifest entry: it must say it
 * is that chunk of that snapshot, with that entity and row count.
 */
export function checkChunkAgainstManifest(manifest: SnapshotManifest, index: number, chunk: SnapshotChunk): void {
  const entry = manifest.chunks[index];
  if (
    !entry ||
    chunk.snapshotId !== manifest.snapshotId ||
    chunk.index !== index ||
    chunk.entity !== entry.entity ||
    chunk.rows.length !== entry.rows
  ) {
    throw new SnapshotRefusedError('chunk-mismatch');
  }
}

/** One row as the snapshot's merge holds it. */
interface MergedRow {
  state: RowState;
  /** The newest update or delete clock of each field; null until one. */
  updated: Map<string, string> | null;
  /** The newest change that set a field: its HLC and user. */
  topHlc: string | null;
  by: string;
}

/**
 * Merges a clinic's changes (in server order) into its rows at the last cursor fed. The server
 * builds snapshots with it; tests build them in memory too. Changes of unknown entities are
 * skipped; append-only entities merge by merge.ts's rules like everything else.
 */
export class SnapshotMerge {
  private readonly rows = new Map<EntityName, Map<string, MergedRow>>();
  private cursor = 0;

  /** Merges the next change; `serverSeq` is its position in the log. */
  add(change: ChangeRecord, serverSeq: number): void {
    if (serverSeq > this.cursor) this.cursor = serverSeq;
    if (!Object.hasOwn(REPLICATED_ENTITIES, change.entity)) return;
    let entityRows = this.rows.get(change.entity);
    if (!entityRows) {
      entityRows = new Map();
      this.rows.set(change.entity, entityRows);
    }
    let row = entityRows.get(change.rowId);
    if (!row) {
      row = { state: EMPTY_ROW_STATE, updated: null, topHlc: null, by: change.userId };
      entityRows.set(change.rowId, row);
    }
    const merged = mergeChange(row.state, change);
    if (merged.rejected) return;
    row.state = merged.state;
    // The clocks a device stores for the change (field-clocks.ts fieldsClockedByChange).
    if (change.op !== 'insert') {
      for (const field of Object.keys(change.fields)) {
        row.updated ??= new Map();
        const held = row.updated.get(field);
        if (held === undefined || change.hlc > held) row.updated.set(field, change.hlc);
      }
    }
    if (Object.keys(change.fields).length > 0 && (row.topHlc === null || change.hlc > row.topHlc)) {
      row.topHlc = change.hlc;
      row.by = change.userId;
    }
  }

  /** Moves the cursor to the end of the log read (pages may end past their last change). */
  reachedCursor(cursor: number): void {
    if (cursor > this.cursor) this.cursor = cursor;
  }

  /** The cursor the rows stand at. */
  get at(): number {
    return this.cursor;
  }

  /** The rows, entity by entity in SNAPSHOT_ENTITY_ORDER, each entity's rows in id order. */
  *snapshotRows(): Generator<{ entity: EntityName; row: SnapshotRow }> {
    for (const entity of SNAPSHOT_ENTITY_ORDER) {
      const entityRows = this.rows.get(entity);
      if (!entityRows) continue;
      const ids = [...entityRows.keys()].sort();
      for (const id of ids) yield { entity, row: toSnapshotRow(id, entityRows.get(id)!) };
    }
  }
}

function toSnapshotRow(id: string, merged: MergedRow): SnapshotRow {
  const val: Record<string, FieldValue> = {};
  for (const [field, state] of Object.entries(merged.state.fields)) val[field] = state.value;
  return {
    id,
    ...(merged.state.insertedHlc === null ? {} : { ins: merged.state.insertedHlc }),
    ...(merged.state.deletedHlc === null ? {} : { del: merged.state.deletedHlc }),
    ...(merged.updated === null ? {} : { upd: Object.fromEntries(merged.updated) }),
    val,
    by: merged.by,
  };
}

/**
 * The changes a snapshot row stands for, in the order to merge them: the insert (every value),
 * then one update per distinct field clock in clock order, the one at the delete's clock being
 * the delete. Merged into an empty row they give the row's values and
 * clocks; merged into a row a device holds, the newer write of each field wins, as for any change.
 * Ids of these changes are the row's (nothing stores them; they never reach an outbox).
 */
export function snapshotRowChanges(entity: EntityName, row: SnapshotRow): ChangeRecord[] {
  const change = (op: ChangeRecord['op'], hlc: string, fields: Record<string, FieldValue>): ChangeRecord => ({
    changeId: row.id,
    txId: row.id,
    deviceId: encodedHlcDeviceId(hlc) ?? '',
    userId: row.by,
    entity,
    rowId: row.id,
    op,
    fields,
    hlc,
    schemaVersion: 1,
  });
  const byClock = new Map<string, Record<string, FieldValue>>();
  for (const [field, hlc] of Object.entries(row.upd ?? {})) {
    let fields = byClock.get(hlc);
    if (!fields) {
      fields = {};
      byClock.set(hlc, fields);
    }
    fields[field] = Object.hasOwn(row.val, field) ? row.val[field]! : null;
  }
  const changes: ChangeRecord[] = [];
  // Every value goes with the insert: devices hold a row's state only once its row is written,
  // and a new row is written only with all its fields. An update after it raises a field's clock
  // with the same value, which is no conflict.
  if (row.ins !== undefined) changes.push(change('insert', row.ins, { ...row.val }));
  for (const hlc of [...byClock.keys()].sort()) {
    changes.push(change(hlc === row.del ? 'delete' : 'update', hlc, byClock.get(hlc)!));
  }
  if (row.del !== undefined && !byClock.has(row.del)) changes.push(change('delete', row.del, {}));
  return changes;
}

/** The newest clock a row carries (its insert, delete or a field's). */
export function newestRowClock(row: SnapshotRow): string | null {
  let newest: string | null = row.ins ?? null;
  for (const hlc of [row.del, ...Object.values(row.upd ?? {})]) {
    if (hlc !== undefined && (newest === null || hlc > newest)) newest = hlc;
  }
  return newest;
}
