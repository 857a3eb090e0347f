/**
 * The change log (changes/): appends, numbering, idempotency and pages. Part of the suite every
 * storage passes (storage.conformance.ts calls this with its context).
 */
import { describe, expect, it } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';
import { makeBatch, makeChange } from './conformance-fixtures.js';
import { ChangeConflictError, InvalidInputError, UnknownDeviceError } from '../../../sync-server/storage/storage.js';

/** Defines these cases for one storage. */
export function describeChangeLogConformance({ name, setupWithDevice }: ConformanceContext): void {
  describe(`${name} storage: changes`, () => {
    it('numbers the changes of a batch in order with the clinic counter', async () => {
      const { store, clock } = await setupWithDevice();
      const first = await store.appendChanges(makeBatch('device-1', 'tx-1', 3));
      expect(first.changes).toEqual([
        { changeId: 'tx-1-c1', serverSeq: 1, inserted: true },
        { changeId: 'tx-1-c2', serverSeq: 2, inserted: true },
        { changeId: 'tx-1-c3', serverSeq: 3, inserted: true },
      ]);
      const second = await store.appendChanges(makeBatch('device-1', 'tx-2', 1));
      expect(second.changes).toEqual([{ changeId: 'tx-2-c1', serverSeq: 4, inserted: true }]);
      const page = await store.pullChanges({ after: 0, limit: 10 });
      expect(page.changes[0]).toEqual({ ...makeChange('device-1', 'tx-1', 1), serverSeq: 1, receivedAt: clock.now() });
    });

    it('returns the numbers already given when a batch is pushed again, storing nothing twice', async () => {
      const { store } = await setupWithDevice();
      const batch = makeBatch('device-1', 'tx-1', 3);
      const first = await store.appendChanges(batch);
      const again = await store.appendChanges(batch);
      expect(again.changes).toEqual(first.changes.map((change) => ({ ...change, inserted: false })));
      const page = await store.pullChanges({ after: 0, limit: 10 });
      expect(page.changes.map((change) => change.serverSeq)).toEqual([1, 2, 3]);
      expect(await store.latestChangeSeq()).toBe(3);
      // The re-push took no numbers: the next batch continues at 4.
      expect((await store.appendChanges(makeBatch('device-1', 'tx-2', 1))).changes[0]!.serverSeq).toBe(4);
    });

    it('stores no change of a batch that holds one invalid change', async () => {
      const { store } = await setupWithDevice();
      const batch = makeBatch('device-1', 'tx-1', 3);
      const invalid = [
        { ...batch, changes: [batch.changes[0]!, { ...batch.changes[1]!, hlc: 'yesterday' }, batch.changes[2]!] },
        { ...batch, changes: [batch.changes[0]!, { ...batch.changes[1]!, txId: 'tx-other' }] },
        { ...batch, changes: [batch.changes[0]!, { ...batch.changes[1]!, deviceId: 'device-2' }] },
        { ...batch, changes: [batch.changes[0]!, batch.changes[0]!] },
        { ...batch, changes: [batch.changes[0]!, { ...batch.changes[1]!, fields: { 'Bad Name': 1 } }] },
        { ...batch, changes: [batch.changes[0]!, { ...batch.changes[1]!, fields: { price: 1.5 } }] },
      ];
      for (const attempt of invalid) {
        await expect(store.appendChanges(attempt)).rejects.toBeInstanceOf(InvalidInputError);
      }
      expect((await store.pullChanges({ after: 0, limit: 10 })).changes).toEqual([]);
    });

    it('rolls back a whole batch when one change conflicts with a stored change', async () => {
      const { store } = await setupWithDevice();
      await store.appendChanges(makeBatch('device-1', 'tx-1', 1));
      const stored = makeChange('device-1', 'tx-1', 1);
      // Same change id, other content, placed last so the earlier changes were already written.
      const conflicting = {
        deviceId: 'device-1',
        txId: 'tx-1',
        changes: [
          makeChange('device-1', 'tx-1', 2),
          makeChange('device-1', 'tx-1', 3),
          { ...stored, fields: { first_name: 'Tampered' } },
        ],
      };
      await expect(store.appendChanges(conflicting)).rejects.toEqual(new ChangeConflictError('tx-1-c1'));
      const page = await store.pullChanges({ after: 0, limit: 10 });
      expect(page.changes.map((change) => change.changeId)).toEqual(['tx-1-c1']);
      expect(page.changes[0]!.fields).toEqual(stored.fields);
      expect((await store.appendChanges(makeBatch('device-1', 'tx-2', 1))).changes[0]!.serverSeq).toBe(2);
    });

    it('refuses changes pushed for a device the clinic does not know', async () => {
      const { store } = await setupWithDevice();
      await expect(store.appendChanges(makeBatch('device-9', 'tx-1', 1))).rejects.toBeInstanceOf(UnknownDeviceError);
    });

    it('pages changes after a cursor in server order with hasMore', async () => {
      const { store } = await setupWithDevice();
      for (let tx = 1; tx <= 4; tx++) await store.appendChanges(makeBatch('device-1', `tx-${tx}`, 2));
      const seen: number[] = [];
      let cursor = 0;
      const pages: boolean[] = [];
      for (;;) {
        const page = await store.pullChanges({ after: cursor, limit: 3 });
        seen.push(...page.changes.map((change) => change.serverSeq));
        pages.push(page.hasMore);
        cursor = page.cursor;
        if (!page.hasMore) break;
      }
      expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(pages).toEqual([true, true, false]);
      expect(await store.pullChanges({ after: 8, limit: 3 })).toEqual({ changes: [], hasMore: false, cursor: 8 });
      expect((await store.pullChanges({ after: 6, limit: 2 })).hasMore).toBe(false);
      await expect(store.pullChanges({ after: -1, limit: 3 })).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.pullChanges({ after: 0, limit: 0 })).rejects.toBeInstanceOf(InvalidInputError);
    });

    it('numbers concurrent appends without gaps, and a polling reader never skips a number', async () => {
      const { storage, store } = await setupWithDevice();
      const writers = 5;
      const batchesPerWriter = 8;
      const total = writers * batchesPerWriter * 2;
      let writing = true;
      const append = Promise.all(
        Array.from({ length: writers }, async (_, w) => {
          // Each writer has its own handle, so PostgreSQL runs them on separate pool connections.
          const own = await storage.clinic(store.clinicId);
          for (let b = 0; b < batchesPerWriter; b++) {
            await own.appendChanges(makeBatch('device-1', `tx-${w}-${b}`, 2));
            // Yield to the event loop, so a synchronous storage interleaves with the reader too.
            await new Promise((resolve) => setImmediate(resolve));
          }
        }),
      ).finally(() => {
        writing = false;
      });
      const seen: number[] = [];
      let cursor = 0;
      let pollsWhileWriting = 0;
      const read = (async () => {
        for (;;) {
          const stillWriting = writing;
          const page = await store.pullChanges({ after: cursor, limit: 7 });
          if (stillWriting) pollsWhileWriting++;
          page.changes.forEach((change, i) => expect(change.serverSeq, 'reader skipped a number').toBe(cursor + i + 1));
          seen.push(...page.changes.map((change) => change.serverSeq));
          cursor = page.cursor;
          if (!stillWriting && !page.hasMore) return;
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await Promise.all([append, read]);
      expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      expect(pollsWhileWriting).toBeGreaterThan(1);
      // The two changes of each batch got consecutive numbers (a batch is one transaction).
      const page = await store.pullChanges({ after: 0, limit: total });
      for (let i = 0; i < total; i += 2) expect(page.changes[i]!.txId).toBe(page.changes[i + 1]!.txId);
    });
  });
}
