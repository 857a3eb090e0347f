/**
 * Quarantine (quarantine/), the user directory (directory/) and patients' branches read from the
 * change log. Part of the suite every storage passes (storage.conformance.ts calls this with its
 * context).
 */
import { describe, expect, it } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';
import { enrollDevice, makeBatch, makeChange } from './conformance-fixtures.js';
import { ChangeConflictError, type ChangeInput, InvalidInputError } from '../../../sync-server/storage/storage.js';

/** Defines these cases for one storage. */
export function describeQuarantineConformance({ name, setup, setupWithDevice }: ConformanceContext): void {
  describe(`${name} storage: quarantine and user directory`, () => {
    const quarantineOf = (deviceId: string, txId: string, count: number) => ({
      deviceId,
      txId,
      entries: Array.from({ length: count }, (_, i) => ({
        change: makeChange(deviceId, txId, i + 1),
        reason: i === 0 ? ('forbidden' as const) : ('with-batch' as const),
        detail: i === 0 ? 'patients.write' : '',
      })),
    });

    it('quarantines a batch once, answers a re-push with the stored rows and never logs it as a change', async () => {
      const { store, device, clock } = await setupWithDevice();
      const first = await store.quarantineChanges(quarantineOf(device.deviceId, 'tx-q', 2));
      expect(first.outcome).toBe('quarantined');
      if (first.outcome !== 'quarantined') return;
      expect(first.changes.map((change) => [change.changeId, change.reason])).toEqual([
        ['tx-q-c1', 'forbidden'],
        ['tx-q-c2', 'with-batch'],
      ]);
      clock.advance(1000);
      const again = await store.quarantineChanges(quarantineOf(device.deviceId, 'tx-q', 2));
      expect(again).toEqual(first);
      expect((await store.pullChanges({ after: 0, limit: 10 })).changes).toEqual([]);
      expect(await store.findQuarantinedChanges(['tx-q-c2', 'nope'])).toEqual([first.changes[1]]);
      const changed = quarantineOf(device.deviceId, 'tx-q', 1);
      changed.entries[0]!.change.fields = { first_name: 'Other' };
      await expect(store.quarantineChanges(changed)).rejects.toBeInstanceOf(ChangeConflictError);
    });

    it('stores nothing for a batch already in the change log, and lists by device', async () => {
      const { storage, store, device } = await setupWithDevice();
      await store.appendChanges(makeBatch(device.deviceId, 'tx-a', 1));
      expect(await store.quarantineChanges(quarantineOf(device.deviceId, 'tx-a', 1))).toEqual({
        outcome: 'alreadyAccepted',
      });
      const other = await enrollDevice(storage, store, 'device-2');
      await store.quarantineChanges(quarantineOf(device.deviceId, 'tx-1', 1));
      await store.quarantineChanges(quarantineOf(other.deviceId, 'tx-2', 1));
      await store.quarantineChanges(quarantineOf(device.deviceId, 'tx-3', 2));
      const page = await store.listQuarantinedChanges({ deviceId: device.deviceId, after: 0, limit: 2 });
      expect(page.changes.map((change) => change.changeId)).toEqual(['tx-1-c1', 'tx-3-c1']);
      expect(page.hasMore).toBe(true);
      const rest = await store.listQuarantinedChanges({ deviceId: device.deviceId, after: page.cursor, limit: 2 });
      expect(rest.changes.map((change) => change.changeId)).toEqual(['tx-3-c2']);
      expect(rest.hasMore).toBe(false);
    });

    it('keeps the role of the highest clock in the user directory', async () => {
      const { store } = await setup();
      expect(await store.readUserDirectory(['u1'])).toEqual({ users: [], size: 0 });
      await store.updateUserDirectory([{ userId: 'u1', role: 'Receptionist', roleHlc: 'b' }]);
      await store.updateUserDirectory([{ userId: 'u1', role: 'Admin', roleHlc: 'a' }]);
      await store.updateUserDirectory([{ userId: 'u2', role: 'Staff', roleHlc: 'a' }]);
      let lookup = await store.readUserDirectory(['u1', 'u3']);
      expect(lookup.size).toBe(2);
      expect(lookup.users.map((user) => [user.userId, user.role])).toEqual([['u1', 'Receptionist']]);
      await store.updateUserDirectory([{ userId: 'u1', role: 'Dentist', roleHlc: 'c' }]);
      lookup = await store.readUserDirectory(['u1']);
      expect(lookup.users[0]!.role).toBe('Dentist');
    });

    it('keeps all-branches and branch ids of the highest clock, each on its own clock, unknown until set', async () => {
      const { store } = await setup();
      await store.updateUserDirectory([{ userId: 'u1', role: 'Receptionist', roleHlc: 'b' }]);
      const scopeOf = async () => {
        const [user] = (await store.readUserDirectory(['u1'])).users;
        return [user!.role, user!.allBranches, user!.branchIds];
      };
      expect(await scopeOf()).toEqual(['Receptionist', null, null]);
      await store.updateUserDirectory([
        { userId: 'u1', allBranches: { value: false, hlc: 'c' }, branchIds: { value: ['br-2', 'br-1'], hlc: 'c' } },
      ]);
      expect(await scopeOf()).toEqual(['Receptionist', false, ['br-2', 'br-1']]);
      // Older clocks lose field by field; a newer one for one field leaves the other and the role.
      await store.updateUserDirectory([
        { userId: 'u1', allBranches: { value: true, hlc: 'b' }, branchIds: { value: [], hlc: 'b' } },
      ]);
      await store.updateUserDirectory([{ userId: 'u1', branchIds: { value: ['br-3'], hlc: 'd' } }]);
      expect(await scopeOf()).toEqual(['Receptionist', false, ['br-3']]);
      await store.updateUserDirectory([{ userId: 'u1', allBranches: { value: true, hlc: 'e' } }]);
      expect(await scopeOf()).toEqual(['Receptionist', true, ['br-3']]);
      // Without a role an entry creates no user: the directory learns users from their inserts.
      await store.updateUserDirectory([{ userId: 'u9', allBranches: { value: true, hlc: 'z' } }]);
      expect(await store.readUserDirectory(['u9'])).toEqual({ users: [], size: 1 });
      await expect(
        store.updateUserDirectory([{ userId: 'u1', branchIds: { value: ['not an id!'], hlc: 'f' } }]),
      ).rejects.toBeInstanceOf(InvalidInputError);
      await expect(store.updateUserDirectory([{ userId: 'u1', role: 'Staff' }])).rejects.toBeInstanceOf(
        InvalidInputError,
      );
    });

    it("reads each patient's branch from the accepted change with the highest clock that set it", async () => {
      const { store, device } = await setupWithDevice();
      const patientChange = (txId: string, n: number, overrides: Partial<ChangeInput>) =>
        makeChange(device.deviceId, txId, n, { entity: 'patient', ...overrides });
      await store.appendChanges({
        deviceId: device.deviceId,
        txId: 'tx-p',
        changes: [
          patientChange('tx-p', 1, { rowId: 'pat-1', op: 'insert', fields: { branch_id: 'br-1', first_name: 'A' } }),
          patientChange('tx-p', 2, { rowId: 'pat-2', op: 'insert', fields: { branch_id: 'br-2' } }),
          // Not a branch change: leaves pat-1 where it is.
          patientChange('tx-p', 3, { rowId: 'pat-1', fields: { first_name: 'B' } }),
          // Another entity's row of the same id is not a patient.
          patientChange('tx-p', 4, { entity: 'branch', rowId: 'pat-3', fields: { branch_id: 'br-9' } }),
        ],
      });
      // pat-2 moves to br-3 by a later clock; an older move appended afterwards loses (last writer wins).
      await store.appendChanges({
        deviceId: device.deviceId,
        txId: 'tx-m',
        changes: [
          patientChange('tx-m', 9, { rowId: 'pat-2', fields: { branch_id: 'br-3' } }),
          patientChange('tx-m', 3, { rowId: 'pat-2', fields: { branch_id: 'br-old' } }),
        ],
      });
      expect(await store.readPatientBranches(['pat-2', 'pat-1', 'pat-3', 'nobody'])).toEqual([
        { patientId: 'pat-1', branchId: 'br-1' },
        { patientId: 'pat-2', branchId: 'br-3' },
      ]);
      expect(await store.readPatientBranches([])).toEqual([]);
    });
  });
}
