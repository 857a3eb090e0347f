/**
 * What must hold once every fault is healed and every device has synced until nothing moves:
 * - every replica holds identical data: SHA-256 digests of the replicated columns of patients,
 *   patient_medical, branches and users, in id order, are equal on every device;
 * - every device holds, for each field of each patient, medical history, user and branch, the
 *   value of the highest-HLC change the server accepted (an oracle independent of the device's
 *   merge code);
 * - no acknowledged write is lost: each reached the server, and is present on every device, or
 *   superseded by a later-HLC write of the same field that is present too, and its own device's
 *   conflict log names it when another device displaced it.
 *   "The server accepted" covers what compaction removed since (Cluster.serverHistory): compaction
 *   removes superseded writes, and a check that read only the log as it is after a compaction
 *   took such a write for one that never arrived (issue #18, seed 12 path 66) and missed a
 *   device's own later write of a field (seed 20261207 path 35);
 * - no outbox entry is pending or refused, every cursor is at the server's head, and each
 *   device's audit chain verifies.
 * Each check throws with a message naming devices, rows and steps.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3-multiple-ciphers';
import { REPLICATED_ENTITIES } from '../../../shared/sync/change.js';
import { ENTITY_NAMES, type EntityName, declarationOf } from '../../../shared/sync/entities.js';
import { isComputedField } from '../../../main/core/sync/change-recorder.js';
import type { FieldValue } from '../../../shared/sync/change.js';
import { parseHlc } from '../../../shared/sync/hlc.js';
import type { StoredChange } from '../../../sync-server/storage/records.js';
import { type AcknowledgedWrite, KEY_COLUMN, readField } from './acknowledged-writes.js';
import type { Cluster } from './cluster.js';

/** The tables compared by digest: every entity devices apply, with its declared key column. */
const DIGESTED = ENTITY_NAMES.filter((entity) => declarationOf(entity).appliedOnDevices).map((entity) => ({
  entity,
  key: declarationOf(entity).key,
}));

/** Rows of one table: key and replicated columns, in key order. */
function replicatedRows(raw: Database.Database, entity: EntityName): unknown[][] {
  const definition = REPLICATED_ENTITIES[entity];
  const key = DIGESTED.find((table) => table.entity === entity)!.key;
  // Computed fields (a user's branch_ids) are not columns of the table.
  const columns = [key, ...definition.fields.filter((field) => !isComputedField(entity, field))];
  return raw
    .prepare(`SELECT ${columns.join(', ')} FROM ${definition.table} ORDER BY ${key}`)
    .raw()
    .all() as unknown[][];
}

/** Per-table SHA-256 digests of the replicated columns. */
export function tableDigests(raw: Database.Database): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const { entity } of DIGESTED) {
    digests[entity] = createHash('sha256')
      .update(JSON.stringify(replicatedRows(raw, entity)))
      .digest('hex');
  }
  return digests;
}

/** Heals every fault, brings the server up and runs rounds until no device pushes or applies anything. */
export async function syncUntilQuiescent(cluster: Cluster): Promise<{ passes: number }> {
  for (const device of cluster.devices) device.link.heal();
  await cluster.server.start({ reopenStorage: false });
  const maxPasses = 8;
  for (let pass = 1; pass <= maxPasses; pass++) {
    let moved = false;
    const errors: string[] = [];
    for (const device of cluster.devices) {
      cluster.advance(100);
      const round = await device.dentist.ok('sync.now', {});
      if (!round.ok) errors.push(`${device.name}: ${round.error}`);
      if (round.pushed > 0 || round.applied > 0 || round.refused > 0) moved = true;
    }
    if (errors.length > 0 && pass >= 3) {
      throw new Error(`rounds still fail after healing: ${errors.join(', ')}${await diagnose(cluster)}`);
    }
    if (!moved && errors.length === 0) return { passes: pass };
  }
  throw new Error(`devices still move changes after ${maxPasses} passes of rounds`);
}

/** Explains a failing round where the reason is known: two devices gave one patient number. */
async function diagnose(cluster: Cluster): Promise<string> {
  const byNumber = new Map<string, Set<string>>();
  for (const change of await cluster.serverHistory()) {
    const number = change.entity === 'patient' ? change.fields.patient_number : undefined;
    if (typeof number !== 'string') continue;
    byNumber.set(number, (byNumber.get(number) ?? new Set()).add(change.rowId));
  }
  const collisions = [...byNumber].filter(([, rows]) => rows.size > 1).map(([number]) => number);
  return collisions.length === 0
    ? ''
    : ` (patient numbers allocated to more than one patient: ${collisions.join(', ')}; ` +
        'docs/sync-protocol.md "Not built yet": such a page fails with LOCAL_FAILURE)';
}

/** Replicas are identical, table by table. */
export async function expectIdenticalReplicas(cluster: Cluster): Promise<Record<string, string>> {
  const [first, ...rest] = cluster.devices;
  const reference = tableDigests(await first!.raw());
  for (const device of rest) {
    const digests = tableDigests(await device.raw());
    for (const { entity } of DIGESTED) {
      if (digests[entity] === reference[entity]) continue;
      const mine = replicatedRows(await device.raw(), entity).map((row) => JSON.stringify(row));
      const theirs = new Set(replicatedRows(await first!.raw(), entity).map((row) => JSON.stringify(row)));
      const differing = mine.filter((row) => !theirs.has(row)).slice(0, 3);
      throw new Error(`${entity} differs between ${first!.name} and ${device.name}: ${differing.join(' | ')}`);
    }
  }
  return reference;
}

/**
 * Compaction loses nothing a device needs: once every device has pulled everything, the log is
 * compacted as far as it goes, and a device that joins then from what is left holds exactly the
 * rows the others hold (per-table digests). Returns how many changes that compaction removed.
 */
export async function expectLateJoinerIdentical(cluster: Cluster, seed: string): Promise<number> {
  const { horizon, removed } = await cluster.compact();
  const latest = await (await cluster.server.storage.clinic(cluster.serverClinicId)).latestChangeSeq();
  // Every device has pulled everything: nothing holds the horizon back.
  if (horizon !== latest) throw new Error(`the compaction horizon is ${horizon}, not the log's head ${latest}`);
  const late = await cluster.joinLateDevice(seed);
  try {
    const reference = tableDigests(await cluster.devices[0]!.raw());
    const digests = tableDigests(await late.raw());
    for (const { entity } of DIGESTED) {
      if (digests[entity] === reference[entity]) continue;
      const mine = replicatedRows(await late.raw(), entity).map((row) => JSON.stringify(row));
      const theirs = new Set(replicatedRows(await cluster.devices[0]!.raw(), entity).map((row) => JSON.stringify(row)));
      const differing = mine.filter((row) => !theirs.has(row)).slice(0, 3);
      throw new Error(`${entity} differs on the device that joined after compaction: ${differing.join(' | ')}`);
    }
  } finally {
    await late.close();
  }
  return removed;
}

type FieldWinner = { hlc: string; value: FieldValue };

/** The entities whose every field the last-writer-wins oracle checks on every device. */
const CHECKED_ENTITIES: readonly EntityName[] = DIGESTED.map(({ entity }) => entity);

/** The highest-HLC value of every field of every written row, from the server's log. */
function lastWriterWins(changes: readonly StoredChange[]): Map<string, Map<string, FieldWinner>> {
  const rows = new Map<string, Map<string, FieldWinner>>();
  for (const change of changes) {
    if (!CHECKED_ENTITIES.includes(change.entity as EntityName)) continue;
    const key = `${change.entity}/${change.rowId}`;
    const fields = rows.get(key) ?? new Map<string, FieldWinner>();
    rows.set(key, fields);
    for (const [field, value] of Object.entries(change.fields)) {
      const current = fields.get(field);
      if (!current || change.hlc > current.hlc) fields.set(field, { hlc: change.hlc, value });
    }
  }
  return rows;
}

/**
 * Every device holds the last-writer-wins state of every patient, medical history, user and branch over every
 * change the server accepted, compacted ones included (so compaction removing a winner fails it).
 */
export async function expectServerLogState(cluster: Cluster): Promise<number> {
  const winners = lastWriterWins(await cluster.serverHistory());
  for (const device of cluster.devices) {
    const raw = await device.raw();
    for (const entity of CHECKED_ENTITIES) {
      const table = REPLICATED_ENTITIES[entity].table;
      const held = (raw.prepare(`SELECT ${KEY_COLUMN[entity]} AS id FROM ${table}`).all() as Array<{ id: string }>)
        .map((row) => row.id)
        .sort();
      const expected = [...winners.keys()]
        .filter((key) => key.startsWith(`${entity}/`))
        .map((key) => key.slice(entity.length + 1))
        .sort();
      if (JSON.stringify(held) !== JSON.stringify(expected)) {
        throw new Error(
          `${device.name} holds ${held.length} ${entity} rows, the server's history has ${expected.length}`,
        );
      }
      for (const rowId of expected) {
        for (const [field, winner] of winners.get(`${entity}/${rowId}`)!) {
          const stored = readField(raw, entity, rowId, field)!;
          if (stored.value !== winner.value || stored.hlc !== winner.hlc) {
            throw new Error(
              `${device.name} ${entity} ${rowId}.${field} = ${JSON.stringify(stored.value)} @${stored.hlc}, ` +
                `the server's last writer is ${JSON.stringify(winner.value)} @${winner.hlc}`,
            );
          }
        }
      }
    }
  }
  return winners.size;
}

/**
 * No acknowledged write is lost: the server accepted it, and on every device its field holds it, or
 * a later-HLC value the server accepted (so a real write superseded it). When a write was its device's last of that field
 * and another device's value displaced it, that device's conflict log keeps the displaced value.
 */
export async function expectAcknowledgedWrites(
  cluster: Cluster,
  writes: readonly AcknowledgedWrite[],
): Promise<{ present: number; superseded: number; displacedAndLogged: number; compacted: number }> {
  // Compacted changes count: a superseded write that compaction removed did reach the server.
  const log = await cluster.serverHistory();
  const keysOf = (changes: readonly StoredChange[]) =>
    new Set(changes.flatMap((change) => Object.keys(change.fields).map((f) => `${change.rowId}/${f}/${change.hlc}`)));
  const inLog = keysOf(log);
  const compacted = keysOf(cluster.compactedChanges);
  const counts = { present: 0, superseded: 0, displacedAndLogged: 0, compacted: 0 };
  for (const write of writes) {
    const key = `${write.rowId}/${write.field}/${write.hlc}`;
    if (!inLog.has(key)) {
      throw new Error(`acknowledged write of step ${write.step} (${describe(write)}) never reached the server`);
    }
    if (compacted.has(key)) counts.compacted++;
    for (const device of cluster.devices) {
      const stored = readField(await device.raw(), write.entity, write.rowId, write.field);
      if (!stored || stored.hlc === null || stored.hlc < write.hlc) {
        throw new Error(`${device.name} lost the acknowledged write of step ${write.step} (${describe(write)})`);
      }
      if (stored.hlc === write.hlc) {
        if (stored.value !== write.value) {
          throw new Error(`${device.name} holds ${JSON.stringify(stored.value)} at the HLC of ${describe(write)}`);
        }
        counts.present++;
      } else {
        if (!inLog.has(`${write.rowId}/${write.field}/${stored.hlc}`)) {
          throw new Error(`${device.name} superseded ${describe(write)} with a value no device wrote`);
        }
        counts.superseded++;
      }
    }
    counts.displacedAndLogged += await expectDisplacementLogged(cluster, log, write);
  }
  return counts;
}

/**
 * Checks the writing device's conflict log for its write that another device's value displaced;
 * 1 when the check applied. The merge logs a loss when a different value from a different device
 * displaces it; it is silent, rightly, when the device itself wrote the field again (it saw its
 * own value) or another device wrote the same value (nothing was lost).
 */
async function expectDisplacementLogged(
  cluster: Cluster,
  log: readonly StoredChange[],
  write: AcknowledgedWrite,
): Promise<number> {
  const device = cluster.devices.find((candidate) => candidate.name === write.device)!;
  const raw = await device.raw();
  const ownId = (raw.prepare('SELECT device_id FROM sync_identity').get() as { device_id: string }).device_id;
  // A medical-history save that leaves a list as it was records no change for it (patients.update
  // records every field it names), so the HLC it was acknowledged with is the earlier writer's:
  // only the device's own changes are its values.
  if (parseHlc(write.hlc).deviceId !== ownId) return 0;
  const stored = readField(raw, write.entity, write.rowId, write.field)!;
  if (stored.hlc === write.hlc) return 0;
  const later = log.filter(
    (change) =>
      change.entity === write.entity &&
      change.rowId === write.rowId &&
      Object.hasOwn(change.fields, write.field) &&
      change.hlc > write.hlc,
  );
  if (later.some((change) => parseHlc(change.hlc).deviceId === ownId)) return 0;
  if (later.some((change) => change.fields[write.field] === write.value)) return 0;
  const logged = raw
    .prepare(
      'SELECT count(*) AS n FROM sync_conflicts WHERE entity = ? AND row_id = ? AND field = ? AND losing_hlc = ?',
    )
    .get(write.entity, write.rowId, write.field, write.hlc) as { n: number };
  if (logged.n === 0) {
    throw new Error(
      `${device.name}'s conflict log does not keep its displaced write of step ${write.step} (${describe(write)})`,
    );
  }
  return 1;
}

function describe(write: AcknowledgedWrite): string {
  return `${write.device} ${write.entity} ${write.rowId}.${write.field}=${JSON.stringify(write.value)} @${write.hlc}`;
}

/** Nothing pending or refused, every cursor at the server's head, every audit chain intact. */
export async function expectSettledDevices(cluster: Cluster): Promise<void> {
  const store = await cluster.server.storage.clinic(cluster.serverClinicId);
  const head = await store.latestChangeSeq();
  for (const device of cluster.devices) {
    const status = await device.dentist.ok('sync.status', {});
    if (status.pending !== 0 || status.refused !== 0) {
      throw new Error(`${device.name} has ${status.pending} pending and ${status.refused} refused changes`);
    }
    const cursor = (
      (await device.raw()).prepare('SELECT pulled_cursor FROM sync_identity').get() as { pulled_cursor: number }
    ).pulled_cursor;
    if (cursor !== head) throw new Error(`${device.name} pulled to ${cursor}, the server's head is ${head}`);
    const audit = await device.admin.ok('audit.verify', {});
    if (!audit.ok) throw new Error(`${device.name}'s audit chain fails at ${audit.firstBadSeq}: ${audit.reason}`);
  }
}
