/**
 * Cross-tenant isolation: no operation of one clinic's store reaches another clinic's rows. Part
 * of the suite every storage passes (storage.conformance.ts calls this with its context).
 */
import { describe, expect, it } from 'vitest';
import { toHex } from '../../../shared/hashing.js';
import { rootOf } from '../../../shared/merkle/tree.js';
import type { ConformanceContext } from './conformance-context.js';
import {
  AuditChainBuilder,
  TestClock,
  checkpointKeys,
  enrollDevice,
  makeBatch,
  makeChange,
  newDevicePublicKey,
  textOf,
} from './conformance-fixtures.js';
import { nodeSha256 } from '../../../sync-server/storage/node-crypto.js';
import {
  CLINIC_STORE_OPERATIONS,
  CheckpointRejectedError,
  type ClinicStore,
  type ClinicStoreOperation,
  InvalidInputError,
  type SyncStorage,
  UnknownDeviceError,
} from '../../../sync-server/storage/storage.js';

/** Defines these cases for one storage. */
export function describeTenantIsolationConformance({ name, open }: ConformanceContext): void {
  describe(`${name} storage: cross-tenant isolation`, () => {
    const MARK = 'bravo-secret';

    /** Clinic B, seeded with distinctive values in every kind of row. */
    async function seedVictim(storage: SyncStorage, clock: TestClock) {
      const clinic = await storage.createClinic({ name: `Clinic ${MARK}` });
      const store = await storage.clinic(clinic.clinicId);
      const deviceId = `${MARK}-device`;
      const device = await enrollDevice(storage, store, deviceId, `Laptop ${MARK}`);
      await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: `${MARK}-admin` });
      await store.appendChanges({
        deviceId,
        txId: `${MARK}-tx`,
        changes: [
          makeChange(deviceId, `${MARK}-tx`, 1, { fields: { first_name: `Patient ${MARK}` }, rowId: `${MARK}-row` }),
          makeChange(deviceId, `${MARK}-tx`, 2, { userId: `${MARK}-user` }),
        ],
      });
      const chain = new AuditChainBuilder(deviceId);
      // B's log is longer than A's, so B's sizes and indexes are out of A's range.
      await store.appendAuditEntries({ deviceId, epoch: 1, entries: chain.next(6, { note: MARK }) });
      const leaves = await store.auditLeafHashes(0, 6);
      const root = rootOf(nodeSha256, leaves);
      await store.storeCheckpoint({ size: 6, rootHash: root, note: checkpointKeys().sign(`${MARK}.log`, 6, root) });
      await store.appendSecurityEvent({ kind: 'audit.fork', deviceId, userId: `${MARK}-user`, details: { why: MARK } });
      await store.quarantineChanges({
        deviceId,
        txId: `${MARK}-qtx`,
        entries: [{ change: makeChange(deviceId, `${MARK}-qtx`, 1), reason: 'forbidden', detail: MARK }],
      });
      await store.updateUserDirectory([
        {
          userId: `${MARK}-user`,
          role: 'Admin',
          roleHlc: `${MARK}-hlc`,
          allBranches: { value: false, hlc: `${MARK}-hlc` },
          branchIds: { value: [`${MARK}-branch`], hlc: `${MARK}-hlc` },
        },
      ]);
      await store.appendChanges({
        deviceId,
        txId: `${MARK}-ptx`,
        changes: [
          makeChange(deviceId, `${MARK}-ptx`, 1, {
            entity: 'patient',
            rowId: `${MARK}-patient`,
            op: 'insert',
            fields: { branch_id: `${MARK}-branch` },
          }),
        ],
      });
      await store.recordPulledCursor(deviceId, 1);
      clock.advance(1);
      return { clinic, store, device, chain, leaves, root };
    }

    /** Clinic A with a device and a little data of its own. */
    async function seedAttacker(storage: SyncStorage) {
      const clinic = await storage.createClinic({ name: 'Clinic Alpha' });
      const store = await storage.clinic(clinic.clinicId);
      await enrollDevice(storage, store, 'alpha-device');
      await store.appendChanges(makeBatch('alpha-device', 'alpha-tx', 1));
      await store.appendAuditEntries({
        deviceId: 'alpha-device',
        epoch: 1,
        entries: new AuditChainBuilder('alpha-device').next(2),
      });
      return { clinic, store };
    }

    /** Awaits an operation that must fail with `type`; returns the error's message (checked for leaks too). */
    async function refused(operation: Promise<unknown>, type: new (...args: never[]) => Error): Promise<string> {
      const error = await operation.then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(type);
      return (error as Error).message;
    }

    /** Awaits an operation that must succeed with `expected`; returns its result. */
    async function resolvesTo<T>(operation: Promise<T>, expected: T): Promise<T> {
      const result = await operation;
      expect(result).toEqual(expected);
      return result;
    }

    /** Everything B holds, read through B's own store. */
    async function snapshot(store: ClinicStore) {
      const size = await store.auditLogSize();
      return textOf({
        clinic: await store.getClinic(),
        codes: await store.listEnrollmentCodes(),
        devices: await store.listDevices(),
        changes: await store.pullChanges({ after: 0, limit: 1000 }),
        audit: await store.listAuditEntries({ after: 0, limit: 1000 }),
        heads: await store.auditChainHead(`${MARK}-device`, 1),
        leaves: await store.auditLeafHashes(0, size),
        checkpoint: await store.latestCheckpoint(),
        events: await store.listSecurityEvents({ after: 0, limit: 1000 }),
        quarantine: await store.listQuarantinedChanges({ deviceId: `${MARK}-device`, after: 0, limit: 1000 }),
        directory: await store.readUserDirectory([`${MARK}-user`]),
        patientBranches: await store.readPatientBranches([`${MARK}-patient`]),
        cursors: await store.listPulledCursors(),
      });
    }

    it("lets no operation of clinic A's store read or change clinic B's rows", async () => {
      const clock = new TestClock();
      const storage = await open(clock);
      const victim = await seedVictim(storage, clock);
      const attacker = await seedAttacker(storage);
      const before = await snapshot(victim.store);
      const victimId = `${MARK}-device`;
      const forbidden = [
        MARK,
        victim.clinic.clinicId,
        toHex(victim.device.publicKey),
        toHex(victim.root),
        ...victim.leaves.map(toHex),
      ];

      // One attack per operation, using B's identifiers wherever the operation takes one.
      const attacks: Record<ClinicStoreOperation, (a: ClinicStore) => Promise<unknown>> = {
        getClinic: (a) => a.getClinic(),
        createEnrollmentCode: (a) => a.createEnrollmentCode({ ttlMs: 60_000, createdBy: null }),
        listEnrollmentCodes: (a) => a.listEnrollmentCodes(),
        getDevice: (a) => resolvesTo(a.getDevice(victimId), null),
        listDevices: (a) => a.listDevices(),
        revokeDevice: (a) => refused(a.revokeDevice({ deviceId: victimId, reason: 'hostile' }), UnknownDeviceError),
        isDeviceRevoked: (a) => resolvesTo(a.isDeviceRevoked(victimId), true),
        appendChanges: (a) => refused(a.appendChanges(makeBatch(victimId, `${MARK}-tx`, 2)), UnknownDeviceError),
        pullChanges: (a) => a.pullChanges({ after: 0, limit: 1000 }),
        latestChangeSeq: (a) => resolvesTo(a.latestChangeSeq(), 1),
        recordPulledCursor: (a) => refused(a.recordPulledCursor(victimId, 1), UnknownDeviceError),
        pullChangesForDevice: (a) =>
          refused(a.pullChangesForDevice(victimId, { after: 0, limit: 1000 }), UnknownDeviceError),
        listPulledCursors: (a) => resolvesTo(a.listPulledCursors(), []),
        compactChanges: (a) => resolvesTo(a.compactChanges(), { horizon: 0, removed: 0, kept: 1 }),
        auditChainHead: (a) => resolvesTo(a.auditChainHead(victimId, 1), null),
        appendAuditEntries: (a) =>
          refused(
            a.appendAuditEntries({ deviceId: victimId, epoch: 1, entries: victim.chain.next(1) }),
            UnknownDeviceError,
          ),
        listAuditEntries: (a) => a.listAuditEntries({ after: 0, limit: 1000 }),
        auditLogSize: (a) => resolvesTo(a.auditLogSize(), 2),
        auditLeafHashes: async (a) => {
          await refused(a.auditLeafHashes(0, 6), InvalidInputError);
          return a.auditLeafHashes(0, 2);
        },
        storeCheckpoint: (a) =>
          refused(
            a.storeCheckpoint({ size: 6, rootHash: victim.root, note: `${MARK}.log\n6\n` }),
            CheckpointRejectedError,
          ),
        latestCheckpoint: (a) => resolvesTo(a.latestCheckpoint(), null),
        getCheckpoint: (a) => resolvesTo(a.getCheckpoint(6), null),
        appendSecurityEvent: (a) => a.appendSecurityEvent({ kind: 'probe', deviceId: null, userId: null, details: {} }),
        listSecurityEvents: (a) => a.listSecurityEvents({ after: 0, limit: 1000 }),
        quarantineChanges: (a) =>
          refused(
            a.quarantineChanges({
              deviceId: victimId,
              txId: `${MARK}-qtx`,
              entries: [{ change: makeChange(victimId, `${MARK}-qtx`, 1), reason: 'schema', detail: 'x' }],
            }),
            UnknownDeviceError,
          ),
        findQuarantinedChanges: (a) => resolvesTo(a.findQuarantinedChanges([`${MARK}-qtx-c1`]), []),
        listQuarantinedChanges: (a) => a.listQuarantinedChanges({ deviceId: victimId, after: 0, limit: 1000 }),
        readUserDirectory: (a) => a.readUserDirectory([`${MARK}-user`]),
        updateUserDirectory: (a) =>
          a.updateUserDirectory([
            {
              userId: `${MARK}-user`,
              role: 'Staff',
              roleHlc: 'zzzz',
              allBranches: { value: true, hlc: 'zzzz' },
              branchIds: { value: [], hlc: 'zzzz' },
            },
          ]),
        readPatientBranches: (a) => resolvesTo(a.readPatientBranches([`${MARK}-patient`]), []),
      };
      expect(Object.keys(attacks).sort()).toEqual([...CLINIC_STORE_OPERATIONS].sort());

      for (const operation of CLINIC_STORE_OPERATIONS) {
        const result = await attacks[operation](attacker.store);
        const text = textOf(result).toLowerCase();
        for (const value of forbidden) expect(text, `${operation} leaked ${value}`).not.toContain(value.toLowerCase());
      }
      // A's own rows are all A's, and B is exactly as it was.
      expect((await attacker.store.pullChanges({ after: 0, limit: 100 })).changes.map((c) => c.deviceId)).toEqual([
        'alpha-device',
      ]);
      expect(await snapshot(victim.store)).toBe(before);
    });

    it("enrolls a device into the code's own clinic only", async () => {
      const clock = new TestClock();
      const storage = await open(clock);
      const victim = await seedVictim(storage, clock);
      const attacker = await seedAttacker(storage);
      const { code } = await victim.store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      const enrolled = await storage.redeemEnrollmentCode({
        code,
        deviceId: 'joining-device',
        name: 'Joiner',
        publicKey: newDevicePublicKey(),
      });
      expect(enrolled.clinicId).toBe(victim.clinic.clinicId);
      expect(await attacker.store.getDevice('joining-device')).toBeNull();
      expect(await victim.store.getDevice('joining-device')).not.toBeNull();
    });

    it('keeps the same device id in two clinics apart', async () => {
      const clock = new TestClock();
      const storage = await open(clock);
      const a = await storage.clinic((await storage.createClinic({ name: 'A' })).clinicId);
      const b = await storage.clinic((await storage.createClinic({ name: 'B' })).clinicId);
      await enrollDevice(storage, a, 'shared-id');
      await enrollDevice(storage, b, 'shared-id');
      await b.revokeDevice({ deviceId: 'shared-id', reason: 'Lost' });
      expect(await a.isDeviceRevoked('shared-id')).toBe(false);
      await a.appendChanges(makeBatch('shared-id', 'tx-a', 2));
      expect((await b.pullChanges({ after: 0, limit: 10 })).changes).toEqual([]);
      expect((await a.appendChanges(makeBatch('shared-id', 'tx-a2', 1))).changes[0]!.serverSeq).toBe(3);
    });
  });
}
