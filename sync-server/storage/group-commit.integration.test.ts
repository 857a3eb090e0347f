/**
 * Group commit of change appends (group-commit.ts): the queue on its own, then each storage
 * answering every batch of one shared transaction on its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestClock, enrollDevice, makeBatch, makeChange } from '../../test/support/sync-server/conformance-fixtures.js';
import { GroupCommit, type GroupOutcome, MAX_GROUP, MAX_GROUP_WEIGHT } from './group-commit.js';
import { type TestDatabase, createTestDatabase } from '../../test/support/sync-server/test-database.js';
import { openPostgresSyncStorage } from './postgres/postgres-storage.js';
import { masterKeySource } from './sqlite/key-source.js';
import { openSqliteSyncStorage } from './sqlite/sqlite-storage.js';
import { ChangeConflictError, DeviceRevokedError, type SyncStorage } from './storage.js';

describe('GroupCommit', () => {
  it('commits what is submitted in one turn together and answers each submission', async () => {
    const groups: number[][] = [];
    const queue = new GroupCommit<number, number>(async (items) => {
      groups.push([...items]);
      return items.map((item): GroupOutcome<number> =>
        item === 3 ? { ok: false, error: 'odd one' } : { ok: true, value: item * 10 },
      );
    });
    const answers = await Promise.allSettled([1, 2, 3, 4].map((item) => queue.submit(item)));
    expect(groups).toEqual([[1, 2, 3, 4]]);
    expect(answers).toEqual([
      { status: 'fulfilled', value: 10 },
      { status: 'fulfilled', value: 20 },
      { status: 'rejected', reason: 'odd one' },
      { status: 'fulfilled', value: 40 },
    ]);
  });

  it('fails every submission of a group whose transaction fails, and commits the next group', async () => {
    let calls = 0;
    const queue = new GroupCommit<string, string>(async (items) => {
      calls++;
      if (calls === 1) throw new Error('commit failed');
      return items.map((item) => ({ ok: true as const, value: item }));
    });
    const first = await Promise.allSettled([queue.submit('a'), queue.submit('b')]);
    expect(first.map((answer) => answer.status)).toEqual(['rejected', 'rejected']);
    expect(await queue.submit('c')).toBe('c');
  });

  it('splits what is queued at once into groups of at most MAX_GROUP items and MAX_GROUP_WEIGHT changes', async () => {
    const groups: number[][] = [];
    const queue = new GroupCommit<number, number>(
      async (items) => {
        groups.push([...items]);
        return items.map((item) => ({ ok: true as const, value: item }));
      },
      (item) => item,
    );
    // 300 light items, then heavy ones: 3000 + 3000 exceed the weight bound, and one item heavier
    // than the bound still commits, alone.
    const light = Array.from({ length: MAX_GROUP + 44 }, () => 1);
    const items = [...light, 3000, 3000, MAX_GROUP_WEIGHT + 1, 1];
    const answers = await Promise.all(items.map((item) => queue.submit(item)));
    expect(answers).toEqual(items);
    expect(groups.map((group) => group.length)).toEqual([MAX_GROUP, 45, 1, 1, 1]);
    expect(groups.flat()).toEqual(items);
    for (const group of groups) {
      expect(group.length === 1 || group.reduce((sum, item) => sum + item, 0) <= MAX_GROUP_WEIGHT).toBe(true);
    }
  });
});

for (const kind of ['SQLite', 'PostgreSQL'] as const) {
  describe(`appendChanges in a group (${kind})`, () => {
    let storage: SyncStorage;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const clock = new TestClock();
      if (kind === 'SQLite') {
        const dataDir = mkdtempSync(join(tmpdir(), 'chairside-group-commit-'));
        storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock });
        cleanup = async () => {
          await storage.close();
          rmSync(dataDir, { recursive: true, force: true });
        };
      } else {
        const db: TestDatabase = await createTestDatabase();
        storage = await openPostgresSyncStorage({ connection: db.app, clock, masterKey: db.masterKey });
        cleanup = async () => {
          await storage.close();
          await db.drop();
        };
      }
    });
    afterAll(async () => cleanup());

    it('refuses a conflicting re-push and a revoked device alone; the other batches commit in order', async () => {
      const clinic = await storage.createClinic({ name: 'Group Dental' });
      const store = await storage.clinic(clinic.clinicId);
      await enrollDevice(storage, store, 'device-1');
      await enrollDevice(storage, store, 'device-2');
      await store.appendChanges(makeBatch('device-1', 'tx-0', 1));
      await store.revokeDevice({ deviceId: 'device-2', reason: 'stolen' });

      // Submitted in one turn of the event loop, so they share one transaction.
      const answers = await Promise.allSettled([
        store.appendChanges(makeBatch('device-1', 'tx-1', 2)),
        store.appendChanges({
          deviceId: 'device-1',
          txId: 'tx-0',
          changes: [makeChange('device-1', 'tx-0', 1, { fields: { first_name: 'Changed' } })],
        }),
        store.appendChanges(makeBatch('device-2', 'tx-2', 1)),
        store.appendChanges(makeBatch('device-1', 'tx-3', 1)),
      ]);

      expect(answers[1]).toMatchObject({ status: 'rejected', reason: expect.any(ChangeConflictError) });
      expect(answers[2]).toMatchObject({ status: 'rejected', reason: expect.any(DeviceRevokedError) });
      const accepted = answers.flatMap((answer) =>
        answer.status === 'fulfilled' ? answer.value.changes.map((change) => change.serverSeq) : [],
      );
      expect(accepted).toEqual([2, 3, 4]);
      const log = await store.pullChanges({ after: 0, limit: 10 });
      expect(log.changes.map((change) => change.txId)).toEqual(['tx-0', 'tx-1', 'tx-1', 'tx-3']);
    });
  });
}
