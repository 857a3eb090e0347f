/**
 * The audit log (audit/): device audit chains, the Merkle log and its checkpoints, security
 * events. Part of the suite every storage passes (storage.conformance.ts calls this with its
 * context).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/hashing.js';
import { rootOf } from '../../../shared/merkle/tree.js';
import { auditLeafHash } from '../../../sync-server/storage/audit-append.js';
import type { ConformanceContext } from './conformance-context.js';
import { AuditChainBuilder, checkpointKeys, enrollDevice, forgedEntry } from './conformance-fixtures.js';
import { nodeSha256 } from '../../../sync-server/storage/node-crypto.js';
import {
  AuditChainRejectedError,
  CheckpointRejectedError,
  InvalidInputError,
} from '../../../sync-server/storage/storage.js';

/** Defines these cases for one storage. */
export function describeAuditLogConformance({ name, setup, setupWithDevice }: ConformanceContext): void {
  describe(`${name} storage: device audit chains`, () => {
    it('appends a chain from genesis and advances its head', async () => {
      const { store, clock } = await setupWithDevice();
      const chain = new AuditChainBuilder('device-1');
      const entries = chain.next(3);
      expect(await store.auditChainHead('device-1', 1)).toBeNull();
      const result = await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries });
      expect(result.duplicates).toBe(0);
      expect(result.head).toEqual({ seq: 3, hash: entries[2]!.hash });
      expect(result.appended.map((entry) => [entry.seq, entry.leafIndex])).toEqual([
        [1, 0],
        [2, 1],
        [3, 2],
      ]);
      expect(result.appended[0]).toEqual({
        deviceId: 'device-1',
        epoch: 1,
        ...entries[0]!,
        deviceTime: JSON.parse(entries[0]!.body).time,
        receivedAt: clock.now(),
        leafIndex: 0,
      });
      expect(await store.auditChainHead('device-1', 1)).toEqual(result.head);
      const more = chain.next(2);
      const next = await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: more });
      expect(next.head).toEqual({ seq: 5, hash: more[1]!.hash });
    });

    it('skips entries it already holds identically and appends the rest', async () => {
      const { store } = await setupWithDevice();
      const chain = new AuditChainBuilder('device-1');
      const firstThree = chain.next(3);
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: firstThree });
      const retried = await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: firstThree });
      expect(retried).toEqual({ appended: [], duplicates: 3, head: { seq: 3, hash: firstThree[2]!.hash } });
      const overlapping = [...firstThree.slice(1), ...chain.next(2)];
      const result = await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: overlapping });
      expect(result.duplicates).toBe(2);
      expect(result.appended.map((entry) => entry.seq)).toEqual([4, 5]);
      expect(await store.auditLogSize()).toBe(5);
    });

    it('refuses a gap after the stored head and inside a batch', async () => {
      const { store } = await setupWithDevice();
      const chain = new AuditChainBuilder('device-1');
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: chain.next(2) });
      const later = chain.next(3);
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: later.slice(1) }),
      ).rejects.toMatchObject({ name: 'AuditChainRejectedError', kind: 'gap', seq: 3 });
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: [later[0]!, later[2]!] }),
      ).rejects.toMatchObject({ kind: 'gap', seq: 4 });
      expect(await store.auditLogSize()).toBe(2);
    });

    it('refuses a fork: another entry at a stored sequence, or one not linking to the head', async () => {
      const { store } = await setupWithDevice();
      const chain = new AuditChainBuilder('device-1');
      const stored = chain.next(3);
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: stored });
      const rewritten = forgedEntry('device-1', 1, 2, stored[0]!.hash);
      const error = await store
        .appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: [rewritten] })
        .catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(AuditChainRejectedError);
      expect(error).toMatchObject({ kind: 'fork', deviceId: 'device-1', epoch: 1, seq: 2 });
      const unlinked = forgedEntry('device-1', 1, 4, stored[1]!.hash);
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: [unlinked] }),
      ).rejects.toMatchObject({ kind: 'fork', seq: 4 });
      expect(await store.auditChainHead('device-1', 1)).toEqual({ seq: 3, hash: stored[2]!.hash });
    });

    it('refuses a first entry that does not start from the genesis hash', async () => {
      const { store } = await setupWithDevice();
      const forged = forgedEntry('device-1', 1, 1, 'ab'.repeat(32));
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: [forged] }),
      ).rejects.toMatchObject({ kind: 'fork', seq: 1 });
      const late = new AuditChainBuilder('device-1').next(2).slice(1);
      await expect(store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: late })).rejects.toMatchObject({
        kind: 'gap',
        seq: 1,
      });
    });

    it('refuses a rollback to an epoch older than one the device started', async () => {
      const { store } = await setupWithDevice();
      const epoch1 = new AuditChainBuilder('device-1', 1);
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: epoch1.next(2) });
      const epoch2 = new AuditChainBuilder('device-1', 2);
      const started = await store.appendAuditEntries({ deviceId: 'device-1', epoch: 2, entries: epoch2.next(1) });
      expect(started.head.seq).toBe(1);
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: epoch1.next(1) }),
      ).rejects.toMatchObject({ kind: 'rollback', epoch: 1 });
      expect(await store.auditChainHead('device-1', 1)).toMatchObject({ seq: 2 });
    });

    it('refuses entries whose body names another device, epoch or sequence', async () => {
      const { store, storage } = await setupWithDevice();
      await enrollDevice(storage, store, 'device-2');
      const otherDevice = new AuditChainBuilder('device-2').next(1);
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: otherDevice }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      const entry = new AuditChainBuilder('device-1').next(1)[0]!;
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 2, entries: [entry] }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: [{ ...entry, seq: 2 }] }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: [{ ...entry, body: 'not json' }] }),
      ).rejects.toBeInstanceOf(InvalidInputError);
      expect(await store.auditLogSize()).toBe(0);
    });

    it('makes accepted entries the next leaves of the Merkle log, whose root matches rootOf', async () => {
      const { storage, store, clock } = await setupWithDevice();
      await enrollDevice(storage, store, 'device-2');
      const one = new AuditChainBuilder('device-1');
      const two = new AuditChainBuilder('device-2');
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: one.next(3) });
      clock.advance(100);
      await store.appendAuditEntries({ deviceId: 'device-2', epoch: 1, entries: two.next(2) });
      clock.advance(100);
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: one.next(2) });
      expect(await store.auditLogSize()).toBe(7);
      const page = await store.listAuditEntries({ after: 0, limit: 100 });
      expect(page.entries.map((entry) => `${entry.deviceId}:${entry.seq}`)).toEqual([
        'device-1:1',
        'device-1:2',
        'device-1:3',
        'device-2:1',
        'device-2:2',
        'device-1:4',
        'device-1:5',
      ]);
      expect(page.entries.map((entry) => entry.leafIndex)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      const expectedLeaves = page.entries.map((entry) => auditLeafHash(entry));
      const leaves = await store.auditLeafHashes(0, 7);
      expect(leaves.map(toHex)).toEqual(expectedLeaves.map(toHex));
      expect(toHex(rootOf(nodeSha256, leaves))).toBe(toHex(rootOf(nodeSha256, expectedLeaves)));
      expect((await store.auditLeafHashes(2, 5)).map(toHex)).toEqual(expectedLeaves.slice(2, 5).map(toHex));
      expect(await store.auditLeafHashes(7, 7)).toEqual([]);
      const second = await store.listAuditEntries({ after: 5, limit: 1 });
      expect(second).toMatchObject({ hasMore: true, cursor: 6 });
      expect(second.entries[0]!.leafIndex).toBe(5);
    });

    it('refuses a leaf range outside the log', async () => {
      const { store } = await setupWithDevice();
      await store.appendAuditEntries({
        deviceId: 'device-1',
        epoch: 1,
        entries: new AuditChainBuilder('device-1').next(2),
      });
      for (const [start, end] of [
        [0, 3],
        [-1, 1],
        [2, 1],
        [0.5, 1],
      ] as const) {
        await expect(store.auditLeafHashes(start, end)).rejects.toBeInstanceOf(InvalidInputError);
      }
    });

    it('stores signed checkpoints whose sizes only grow', async () => {
      const { store } = await setupWithDevice();
      const keys = checkpointKeys();
      const origin = 'chairside.test/clinic-log';
      const chain = new AuditChainBuilder('device-1');
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: chain.next(3) });
      const rootAt3 = rootOf(nodeSha256, await store.auditLeafHashes(0, 3));
      expect(await store.latestCheckpoint()).toBeNull();
      const note3 = keys.sign(origin, 3, rootAt3);
      const stored = await store.storeCheckpoint({ size: 3, rootHash: rootAt3, note: note3 });
      expect(stored).toMatchObject({ size: 3, rootHash: rootAt3, note: note3 });
      expect(await store.storeCheckpoint({ size: 3, rootHash: rootAt3, note: note3 })).toEqual(stored);
      expect(await store.latestCheckpoint()).toEqual(stored);
      const verified = keys.verify((await store.getCheckpoint(3))!.note, origin);
      expect(verified.ok && toHex(verified.checkpoint.rootHash)).toBe(toHex(rootAt3));

      const other = new Uint8Array(32).fill(7);
      await expect(store.storeCheckpoint({ size: 3, rootHash: other, note: note3 })).rejects.toMatchObject({
        reason: 'conflict',
      });
      await expect(store.storeCheckpoint({ size: 4, rootHash: rootAt3, note: note3 })).rejects.toMatchObject({
        reason: 'beyond_log',
      });
      await store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: chain.next(2) });
      const rootAt5 = rootOf(nodeSha256, await store.auditLeafHashes(0, 5));
      const latest = await store.storeCheckpoint({ size: 5, rootHash: rootAt5, note: keys.sign(origin, 5, rootAt5) });
      const rootAt2 = rootOf(nodeSha256, await store.auditLeafHashes(0, 2));
      await expect(
        store.storeCheckpoint({ size: 2, rootHash: rootAt2, note: keys.sign(origin, 2, rootAt2) }),
      ).rejects.toBeInstanceOf(CheckpointRejectedError);
      expect(await store.latestCheckpoint()).toEqual(latest);
      expect(await store.getCheckpoint(3)).toEqual(stored);
      expect(await store.getCheckpoint(4)).toBeNull();
    });
  });

  describe(`${name} storage: security events`, () => {
    it('appends security events numbered by the clinic and lists them in order', async () => {
      const { store, clock } = await setup();
      const first = await store.appendSecurityEvent({
        kind: 'audit.fork',
        deviceId: 'device-1',
        userId: null,
        details: { seq: 4, epoch: 1 },
      });
      clock.advance(1);
      await store.appendSecurityEvent({ kind: 'enrollment.refused', deviceId: null, userId: 'admin-1', details: {} });
      expect(first).toEqual({
        eventSeq: 1,
        kind: 'audit.fork',
        deviceId: 'device-1',
        userId: null,
        details: { seq: 4, epoch: 1 },
        occurredAt: clock.now() - 1,
      });
      const page = await store.listSecurityEvents({ after: 0, limit: 1 });
      expect(page).toEqual({ events: [first], hasMore: true, cursor: 1 });
      const rest = await store.listSecurityEvents({ after: 1, limit: 10 });
      expect(rest.events.map((event) => event.kind)).toEqual(['enrollment.refused']);
      await expect(
        store.appendSecurityEvent({ kind: 'Bad Kind', deviceId: null, userId: null, details: {} }),
      ).rejects.toBeInstanceOf(InvalidInputError);
    });
  });
}
