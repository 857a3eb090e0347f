/**
 * The conformance cases of change-log compaction (docs/sync-protocol.md, "Compaction (built)"),
 * part of the suite every storage passes (storage.conformance.ts calls this with its setup).
 */
import { describe, expect, it } from 'vitest';
import { encodeHlc } from '../../../shared/sync/hlc.js';
import { type TestClock, enrollDevice, makeBatch, makeChange } from './conformance-fixtures.js';
import {
  ChangeConflictError,
  type ChangeInput,
  type ClinicStore,
  InvalidInputError,
  type SyncStorage,
  UnknownDeviceError,
} from '../../../sync-server/storage/storage.js';

/** A clinic of the storage under test, without devices. */
export type CompactionSetup = () => Promise<{ storage: SyncStorage; store: ClinicStore; clock: TestClock }>;

const WALL = 1_760_000_000_000;

/** One change of a row at clock tick `tick` (the HLC orders by tick, whatever the push order). */
interface RowWrite {
  readonly entity?: string;
  readonly rowId: string;
  readonly op: ChangeInput['op'];
  readonly tick: number;
  readonly fields?: ChangeInput['fields'];
}

/** Pushes each write as its own transaction `${txPrefix}-${i}` of `deviceId`; returns the numbers in order. */
async function pushWrites(store: ClinicStore, deviceId: string, txPrefix: string, writes: readonly RowWrite[]) {
  const seqs: number[] = [];
  for (const [i, write] of writes.entries()) {
    const txId = `${txPrefix}-${i + 1}`;
    const change = makeChange(deviceId, txId, 1, {
      entity: write.entity ?? 'patient',
      rowId: write.rowId,
      op: write.op,
      fields: write.fields ?? { first_name: `Name at ${write.tick}` },
      hlc: encodeHlc({ wallMs: WALL + write.tick, counter: 0, deviceId }),
    });
    const result = await store.appendChanges({ deviceId, txId, changes: [change] });
    seqs.push(result.changes[0]!.serverSeq);
  }
  return seqs;
}

async function remainingSeqs(store: ClinicStore): Promise<number[]> {
  return (await store.pullChanges({ after: 0, limit: 1000 })).changes.map((change) => change.serverSeq);
}

/** Defines the compaction cases for one storage. */
export function describeCompactionConformance(name: string, setup: CompactionSetup): void {
  async function withDevices(...deviceIds: string[]) {
    const context = await setup();
    for (const deviceId of deviceIds) await enrollDevice(context.storage, context.store, deviceId);
    return context;
  }

  describe(`${name} storage: change-log compaction`, () => {
    it("records each device's pulled cursor, only ever raising it and never past the log", async () => {
      const { store, clock } = await withDevices('device-1', 'device-2');
      await store.appendChanges(makeBatch('device-1', 'tx-1', 5));
      await store.recordPulledCursor('device-1', 3);
      const recordedAt = clock.now();
      clock.advance(1000);
      await store.recordPulledCursor('device-1', 2);
      await store.recordPulledCursor('device-1', 3);
      await store.recordPulledCursor('device-2', 1);
      expect(await store.listPulledCursors()).toEqual([
        { deviceId: 'device-1', after: 3, updatedAt: recordedAt },
        { deviceId: 'device-2', after: 1, updatedAt: clock.now() },
      ]);
      // A cursor past the log claims changes not made yet: it is capped at the last number given.
      await store.recordPulledCursor('device-1', 99);
      expect((await store.listPulledCursors())[0]).toMatchObject({ deviceId: 'device-1', after: 5 });
      await expect(store.recordPulledCursor('device-9', 1)).rejects.toBeInstanceOf(UnknownDeviceError);
      await expect(store.recordPulledCursor('device-1', -1)).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.recordPulledCursor('bad id!', 1)).rejects.toBeInstanceOf(InvalidInputError);
    });

    it("reads a device's page and records its cursor in one call, as the two operations do apart", async () => {
      const { store } = await withDevices('device-1', 'device-2');
      await store.appendChanges(makeBatch('device-1', 'tx-1', 5));
      const { pulledBefore, ...page } = await store.pullChangesForDevice('device-2', { after: 2, limit: 2 });
      expect(page).toEqual(await store.pullChanges({ after: 2, limit: 2 }));
      expect(page.changes.map((change) => change.serverSeq)).toEqual([3, 4]);
      // The cursor the device had recorded before each pull: none, then 2 (a pull from below it).
      expect(pulledBefore).toBeNull();
      expect((await store.pullChangesForDevice('device-2', { after: 1, limit: 2 })).pulledBefore).toBe(2);
      expect(await store.listPulledCursors()).toEqual([expect.objectContaining({ deviceId: 'device-2', after: 2 })]);
      expect((await store.pullChangesForDevice('device-2', { after: 4, limit: 2 })).pulledBefore).toBe(2);
      expect((await store.pullChangesForDevice('device-2', { after: 4, limit: 2 })).pulledBefore).toBe(4);
      await expect(store.pullChangesForDevice('device-9', { after: 0, limit: 2 })).rejects.toBeInstanceOf(
        UnknownDeviceError,
      );
      await expect(store.pullChangesForDevice('device-1', { after: 0, limit: 0 })).rejects.toBeInstanceOf(
        InvalidInputError,
      );
    });

    it('holds the horizon at 0 while a device never pulled, and lets revoked devices hold nothing', async () => {
      const empty = await setup();
      expect(await empty.store.compactChanges()).toEqual({ horizon: 0, removed: 0, kept: 0 });

      const { store } = await withDevices('device-1', 'device-2', 'device-3');
      await pushWrites(store, 'device-1', 'tx', [
        { rowId: 'p1', op: 'insert', tick: 1 },
        { rowId: 'p1', op: 'update', tick: 2 },
        { rowId: 'p1', op: 'update', tick: 3 },
        { rowId: 'p1', op: 'update', tick: 4 },
      ]);
      await store.recordPulledCursor('device-1', 4);
      await store.recordPulledCursor('device-3', 3);
      expect(await store.compactChanges()).toEqual({ horizon: 0, removed: 0, kept: 4 });
      await store.revokeDevice({ deviceId: 'device-2', reason: 'lost' });
      // The lowest of the devices left: device-3 has applied up to 3.
      expect(await store.compactChanges()).toEqual({ horizon: 3, removed: 2, kept: 2 });
      expect(await remainingSeqs(store)).toEqual([1, 4]);
    });

    it('removes updates superseded by a higher clock at or below the horizon, keeps those above it and every insert', async () => {
      const { store } = await withDevices('device-1');
      const seqs = await pushWrites(store, 'device-1', 'tx', [
        { rowId: 'p1', op: 'insert', tick: 1, fields: { first_name: 'A', last_name: 'B' } },
        { rowId: 'p1', op: 'update', tick: 2, fields: { first_name: 'C' } },
        { rowId: 'p1', op: 'update', tick: 10, fields: { phone: '1' } },
        // Arrives later with an older clock: it lost to tick 10 on every replica.
        { rowId: 'p1', op: 'update', tick: 9, fields: { phone: '2' } },
        { rowId: 'p1', op: 'update', tick: 11, fields: { first_name: 'D' } },
        // Above the horizon: superseded too, but a device may not have applied it yet.
        { rowId: 'p1', op: 'update', tick: 12, fields: { first_name: 'E' } },
        { rowId: 'p1', op: 'update', tick: 13, fields: { first_name: 'F' } },
      ]);
      await store.recordPulledCursor('device-1', seqs[4]!);
      const latest = await store.latestChangeSeq();
      expect(await store.compactChanges()).toEqual({ horizon: 5, removed: 3, kept: 4 });
      // The insert stays although its first name is superseded: it creates the row on a new device.
      expect(await remainingSeqs(store)).toEqual([1, 3, 6, 7]);
      expect(await store.latestChangeSeq()).toBe(latest);
      expect(await store.compactChanges()).toEqual({ horizon: 5, removed: 0, kept: 4 });
      await store.recordPulledCursor('device-1', 7);
      expect(await store.compactChanges()).toEqual({ horizon: 7, removed: 1, kept: 3 });
      expect(await remainingSeqs(store)).toEqual([1, 3, 7]);
    });

    it('keeps an update that another change supersedes only in part', async () => {
      const { store } = await withDevices('device-1');
      await pushWrites(store, 'device-1', 'tx', [
        { rowId: 'p1', op: 'insert', tick: 1, fields: { first_name: 'A' } },
        { rowId: 'p1', op: 'update', tick: 2, fields: { first_name: 'B', last_name: 'C' } },
        { rowId: 'p1', op: 'update', tick: 3, fields: { first_name: 'D' } },
        // Same field, other row: supersedes nothing of p1.
        { rowId: 'p2', op: 'update', tick: 4, fields: { last_name: 'E' } },
      ]);
      await store.recordPulledCursor('device-1', 4);
      expect(await store.compactChanges()).toEqual({ horizon: 4, removed: 0, kept: 4 });
    });

    it('removes every change of a tombstoned row at or below the horizon, and nothing of a row brought back', async () => {
      const { store } = await withDevices('device-1');
      await pushWrites(store, 'device-1', 'tx', [
        { rowId: 'gone', op: 'insert', tick: 1 }, // 1
        { rowId: 'gone', op: 'update', tick: 2 }, // 2
        { rowId: 'gone', op: 'delete', tick: 3, fields: {} }, // 3
        { rowId: 'back', op: 'insert', tick: 4 }, // 4
        { rowId: 'back', op: 'delete', tick: 5, fields: {} }, // 5
        { rowId: 'back', op: 'insert', tick: 6 }, // 6: an explicit undelete
        { rowId: 'late', op: 'insert', tick: 7 }, // 7
        { rowId: 'late', op: 'delete', tick: 8, fields: {} }, // 8
        { rowId: 'gone', op: 'update', tick: 9, fields: { phone: '9' } }, // 9: above the horizon
        { rowId: 'late', op: 'insert', tick: 10 }, // 10: an undelete above the horizon
      ]);
      await store.recordPulledCursor('device-1', 8);
      expect(await store.compactChanges()).toEqual({ horizon: 8, removed: 3, kept: 7 });
      expect(await remainingSeqs(store)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    });

    it('never touches append-only entities, nor entities it does not know', async () => {
      const { store } = await withDevices('device-1');
      await pushWrites(store, 'device-1', 'tx', [
        { entity: 'clinical_note', rowId: 'n1', op: 'insert', tick: 1 },
        { entity: 'clinical_note', rowId: 'n1', op: 'update', tick: 2 },
        { entity: 'clinical_note', rowId: 'n1', op: 'update', tick: 3 },
        { entity: 'clinical_note', rowId: 'n1', op: 'delete', tick: 4, fields: {} },
        { entity: 'payment', rowId: 'm1', op: 'insert', tick: 5 },
        { entity: 'payment', rowId: 'm1', op: 'update', tick: 6 },
        { entity: 'patients', rowId: 'x1', op: 'update', tick: 7 },
        { entity: 'patients', rowId: 'x1', op: 'update', tick: 8 },
      ]);
      await store.recordPulledCursor('device-1', 8);
      expect(await store.compactChanges()).toEqual({ horizon: 8, removed: 0, kept: 8 });
    });

    it('pages the remaining changes in order across the gaps compaction left', async () => {
      const { store } = await withDevices('device-1');
      const writes: RowWrite[] = [];
      // Nine updates of one field, then an insert of another row: updates 1-8 are superseded.
      for (let tick = 1; tick <= 9; tick++) writes.push({ rowId: 'p1', op: 'update', tick });
      writes.push({ rowId: 'p2', op: 'insert', tick: 10 }, { rowId: 'p3', op: 'insert', tick: 11 });
      await pushWrites(store, 'device-1', 'tx', writes);
      await store.recordPulledCursor('device-1', 11);
      expect(await store.compactChanges()).toEqual({ horizon: 11, removed: 8, kept: 3 });
      const first = await store.pullChanges({ after: 0, limit: 2 });
      expect(first.changes.map((change) => change.serverSeq)).toEqual([9, 10]);
      expect(first).toMatchObject({ hasMore: true, cursor: 10 });
      expect(await store.pullChanges({ after: first.cursor, limit: 2 })).toMatchObject({
        changes: [expect.objectContaining({ serverSeq: 11, rowId: 'p3' })],
        hasMore: false,
        cursor: 11,
      });
      // A cursor inside a gap reads on from the next change that stayed.
      const fromGap = await store.pullChanges({ after: 3, limit: 1 });
      expect(fromGap.changes.map((change) => change.serverSeq)).toEqual([9]);
      expect(fromGap).toMatchObject({ hasMore: true, cursor: 9 });
      expect(await store.latestChangeSeq()).toBe(11);
      // The counter goes on from where it was: numbers are never given twice.
      expect((await store.appendChanges(makeBatch('device-1', 'tx-new', 1))).changes[0]!.serverSeq).toBe(12);
    });

    it('answers a re-push of a compacted change with its number, and refuses its id with other content', async () => {
      const { store } = await withDevices('device-1');
      await pushWrites(store, 'device-1', 'tx', [
        { rowId: 'p1', op: 'update', tick: 1, fields: { first_name: 'Old' } },
        { rowId: 'p1', op: 'update', tick: 2, fields: { first_name: 'New' } },
      ]);
      await store.recordPulledCursor('device-1', 2);
      expect(await store.compactChanges()).toMatchObject({ removed: 1 });
      const compacted = makeChange('device-1', 'tx-1', 1, {
        entity: 'patient',
        rowId: 'p1',
        op: 'update',
        fields: { first_name: 'Old' },
        hlc: encodeHlc({ wallMs: WALL + 1, counter: 0, deviceId: 'device-1' }),
      });
      const again = await store.appendChanges({ deviceId: 'device-1', txId: 'tx-1', changes: [compacted] });
      expect(again.changes).toEqual([{ changeId: 'tx-1-c1', serverSeq: 1, inserted: false }]);
      expect(await remainingSeqs(store)).toEqual([2]);
      expect(await store.latestChangeSeq()).toBe(2);
      // With a new change in the same batch: the compacted one keeps its number, the new one gets the next.
      const mixed = await store.appendChanges({
        deviceId: 'device-1',
        txId: 'tx-1',
        changes: [compacted, makeChange('device-1', 'tx-1', 2)],
      });
      expect(mixed.changes).toEqual([
        { changeId: 'tx-1-c1', serverSeq: 1, inserted: false },
        { changeId: 'tx-1-c2', serverSeq: 3, inserted: true },
      ]);
      const tampered = { ...compacted, fields: { first_name: 'Tampered' } };
      await expect(
        store.appendChanges({ deviceId: 'device-1', txId: 'tx-1', changes: [tampered] }),
      ).rejects.toBeInstanceOf(ChangeConflictError);
      // A compacted change was accepted: it is never quarantined afterwards.
      expect(
        await store.quarantineChanges({
          deviceId: 'device-1',
          txId: 'tx-1',
          entries: [{ change: compacted, reason: 'forbidden', detail: 'patients.write' }],
        }),
      ).toEqual({ outcome: 'alreadyAccepted' });
    });
  });
}
