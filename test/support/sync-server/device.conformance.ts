/**
 * The devices area (devices/): clinics, challenge nonces, enrollment codes and devices. Part of
 * the suite every storage passes (storage.conformance.ts calls this with its context).
 */
import { describe, expect, it } from 'vitest';
import type { ConformanceContext } from './conformance-context.js';
import { AuditChainBuilder, enrollDevice, makeBatch, newDevicePublicKey } from './conformance-fixtures.js';
import {
  DeviceRevokedError,
  DuplicateDeviceError,
  EnrollmentCodeError,
  InvalidInputError,
  UnknownClinicError,
  UnknownDeviceError,
} from '../../../sync-server/storage/storage.js';

/** Defines these cases for one storage. */
export function describeDeviceConformance({ name, setup, setupWithDevice, dumpStoredText }: ConformanceContext): void {
  describe(`${name} storage: clinics`, () => {
    it('creates a clinic with a new id and finds it by id and in the list', async () => {
      const { storage, clinic, clock } = await setup();
      expect(clinic).toEqual({ clinicId: expect.any(String), name: 'Smile Dental', createdAt: clock.now() });
      const other = await storage.createClinic({ name: '  Bright Teeth  ' });
      expect(other.name).toBe('Bright Teeth');
      expect(other.clinicId).not.toBe(clinic.clinicId);
      expect(await storage.getClinic(clinic.clinicId)).toEqual(clinic);
      const listed = await storage.listClinics();
      expect(listed).toContainEqual(clinic);
      expect(listed).toContainEqual(other);
      expect(await (await storage.clinic(other.clinicId)).getClinic()).toEqual(other);
    });

    it('knows no clinic for an unknown or malformed id', async () => {
      const { storage } = await setup();
      for (const id of ['6f1d4b52-8a43-4c1e-9d43-3c1f0e0a9b7d', 'not-a-uuid', '../catalog', '']) {
        expect(await storage.getClinic(id)).toBeNull();
        await expect(storage.clinic(id)).rejects.toBeInstanceOf(UnknownClinicError);
      }
    });

    it('refuses a clinic without a name', async () => {
      const { storage } = await setup();
      await expect(storage.createClinic({ name: '   ' })).rejects.toBeInstanceOf(InvalidInputError);
    });
  });

  describe(`${name} storage: challenge nonces`, () => {
    it('consumes a challenge nonce once and refuses it every later time', async () => {
      const { clock, storage } = await setup();
      const expiresAt = clock.now() + 60_000;
      expect(await storage.consumeChallengeNonce('nonce-AAAAAAAAAAAAAAAAAAA', expiresAt)).toBe(true);
      expect(await storage.consumeChallengeNonce('nonce-AAAAAAAAAAAAAAAAAAA', expiresAt)).toBe(false);
      clock.advance(30_000);
      expect(await storage.consumeChallengeNonce('nonce-AAAAAAAAAAAAAAAAAAA', expiresAt)).toBe(false);
      expect(await storage.consumeChallengeNonce('nonce-BBBBBBBBBBBBBBBBBBB', expiresAt)).toBe(true);
    });

    it('refuses a nonce whose challenge has expired, even unused', async () => {
      const { clock, storage } = await setup();
      expect(await storage.consumeChallengeNonce('nonce-late', clock.now())).toBe(false);
      expect(await storage.consumeChallengeNonce('nonce-late', clock.now() - 1)).toBe(false);
    });

    it('lets exactly one of several concurrent uses of a nonce win', async () => {
      const { clock, storage } = await setup();
      const results = await Promise.all(
        Array.from({ length: 6 }, () => storage.consumeChallengeNonce('nonce-race', clock.now() + 60_000)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('refuses a malformed nonce', async () => {
      const { clock, storage } = await setup();
      await expect(storage.consumeChallengeNonce("x' OR 1=1 --", clock.now() + 1000)).rejects.toBeInstanceOf(
        InvalidInputError,
      );
    });
  });

  describe(`${name} storage: enrollment codes`, () => {
    it('redeems a code once, registering the device it enrolls', async () => {
      const { storage, store, clinic, clock } = await setup();
      const { code, record } = await store.createEnrollmentCode({ ttlMs: 600_000, createdBy: 'admin-1' });
      expect(code).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/);
      expect(record).toMatchObject({ createdAt: clock.now(), expiresAt: clock.now() + 600_000, redeemedAt: null });
      const publicKey = newDevicePublicKey();
      clock.advance(1000);
      const enrolled = await storage.redeemEnrollmentCode({
        code,
        deviceId: 'laptop-1',
        name: 'Front desk',
        publicKey,
      });
      expect(enrolled).toEqual({
        clinicId: clinic.clinicId,
        device: {
          deviceId: 'laptop-1',
          name: 'Front desk',
          publicKey,
          enrollmentCodeId: record.codeId,
          enrolledAt: clock.now(),
          deviceNumber: 1,
          revokedAt: null,
          revokedReason: null,
        },
      });
      await expect(
        storage.redeemEnrollmentCode({ code, deviceId: 'laptop-2', name: 'Second', publicKey: newDevicePublicKey() }),
      ).rejects.toEqual(new EnrollmentCodeError('redeemed'));
      expect(await store.getDevice('laptop-2')).toBeNull();
      expect(await store.listEnrollmentCodes()).toEqual([
        { ...record, redeemedAt: clock.now(), redeemedByDevice: 'laptop-1' },
      ]);
    });

    it('accepts a code typed in lower case, with spaces and without dashes', async () => {
      const { storage, store } = await setup();
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      const typed = ` ${code.toLowerCase().replace(/-/g, '')} `;
      const enrolled = await storage.redeemEnrollmentCode({
        code: typed,
        deviceId: 'tablet-1',
        name: 'Tablet',
        publicKey: newDevicePublicKey(),
      });
      expect(enrolled.device.deviceId).toBe('tablet-1');
    });

    it('refuses a code at and after its expiry', async () => {
      const { storage, store, clock } = await setup();
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      clock.advance(60_000);
      await expect(
        storage.redeemEnrollmentCode({ code, deviceId: 'late-1', name: 'Late', publicKey: newDevicePublicKey() }),
      ).rejects.toEqual(new EnrollmentCodeError('expired'));
      expect(await store.listDevices()).toEqual([]);
    });

    it('refuses an unknown or malformed code', async () => {
      const { storage } = await setup();
      for (const code of ['ABCDE-FGHJK-MNPQR-STVWX', 'short', 'UUUUU-UUUUU-UUUUU-UUUUU']) {
        await expect(
          storage.redeemEnrollmentCode({ code, deviceId: 'guess-1', name: 'Guess', publicKey: newDevicePublicKey() }),
        ).rejects.toEqual(new EnrollmentCodeError('unknown'));
      }
    });

    it('keeps the code unused when its device id is already enrolled', async () => {
      const { storage, store } = await setupWithDevice('laptop-1');
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      await expect(
        storage.redeemEnrollmentCode({ code, deviceId: 'laptop-1', name: 'Clone', publicKey: newDevicePublicKey() }),
      ).rejects.toBeInstanceOf(DuplicateDeviceError);
      const enrolled = await storage.redeemEnrollmentCode({
        code,
        deviceId: 'laptop-2',
        name: 'Second',
        publicKey: newDevicePublicKey(),
      });
      expect(enrolled.device.deviceId).toBe('laptop-2');
    });

    it('lets exactly one of several concurrent redemptions of a code win', async () => {
      const { storage, store } = await setup();
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      const attempts = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          storage.redeemEnrollmentCode({
            code,
            deviceId: `racer-${i}`,
            name: 'Racer',
            publicKey: newDevicePublicKey(),
          }),
        ),
      );
      expect(attempts.filter((attempt) => attempt.status === 'fulfilled')).toHaveLength(1);
      for (const attempt of attempts) {
        if (attempt.status === 'rejected') expect(attempt.reason).toEqual(new EnrollmentCodeError('redeemed'));
      }
      expect(await store.listDevices()).toHaveLength(1);
    });

    it('stores only a hash of a code, never the code', async () => {
      const { storage, store } = await setup();
      const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null });
      const stored = await dumpStoredText(storage);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace(/-/g, ''));
      expect(stored.toLowerCase()).not.toContain(code.replace(/-/g, '').toLowerCase());
    });
  });

  describe(`${name} storage: devices`, () => {
    it('gets and lists devices with their public keys', async () => {
      const { storage, store, clock } = await setup();
      const first = await enrollDevice(storage, store, 'device-b', 'Front desk');
      clock.advance(10);
      const second = await enrollDevice(storage, store, 'device-a', 'Surgery 1');
      expect(await store.getDevice('device-b')).toEqual(first);
      expect(first.publicKey).toBeInstanceOf(Uint8Array);
      expect(first.publicKey).toHaveLength(32);
      expect(await store.listDevices()).toEqual([first, second]);
      expect(await store.getDevice('device-unknown')).toBeNull();
      expect(await store.getDevice('not a device id!')).toBeNull();
    });

    it('numbers devices 1, 2, 3... in order of enrollment, per clinic, also under concurrent redemptions', async () => {
      const { storage, store } = await setup();
      const first = await enrollDevice(storage, store, 'founder');
      expect(first.deviceNumber).toBe(1);
      const codes = await Promise.all(
        Array.from({ length: 6 }, () => store.createEnrollmentCode({ ttlMs: 60_000, createdBy: null })),
      );
      const racers = await Promise.all(
        codes.map(({ code }, i) =>
          storage.redeemEnrollmentCode({
            code,
            deviceId: `racer-${i}`,
            name: 'Racer',
            publicKey: newDevicePublicKey(),
          }),
        ),
      );
      const numbers = racers.map((enrolled) => enrolled.device.deviceNumber).sort((x, y) => x - y);
      expect(numbers).toEqual([2, 3, 4, 5, 6, 7]);
      const listed = await store.listDevices();
      expect(listed.map((device) => device.deviceNumber).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6, 7]);
      // A revoked device keeps its number and the next device does not reuse it.
      await store.revokeDevice({ deviceId: 'racer-0', reason: 'Lost' });
      expect((await enrollDevice(storage, store, 'after-revoke')).deviceNumber).toBe(8);
      // Another clinic counts from 1.
      const other = await storage.clinic((await storage.createClinic({ name: 'Other' })).clinicId);
      expect((await enrollDevice(storage, other, 'elsewhere')).deviceNumber).toBe(1);
    });

    it('revokes a device for good, keeping the first revocation', async () => {
      const { store, clock } = await setupWithDevice('device-1');
      expect(await store.isDeviceRevoked('device-1')).toBe(false);
      clock.advance(5000);
      const revoked = await store.revokeDevice({ deviceId: 'device-1', reason: 'Laptop stolen' });
      expect(revoked).toMatchObject({ revokedAt: clock.now(), revokedReason: 'Laptop stolen' });
      clock.advance(5000);
      expect(await store.revokeDevice({ deviceId: 'device-1', reason: 'Again' })).toEqual(revoked);
      expect(await store.isDeviceRevoked('device-1')).toBe(true);
      expect(await store.getDevice('device-1')).toEqual(revoked);
    });

    it('treats an unknown device as revoked and refuses to revoke it', async () => {
      const { store } = await setup();
      expect(await store.isDeviceRevoked('device-ghost')).toBe(true);
      expect(await store.isDeviceRevoked('../../etc')).toBe(true);
      await expect(store.revokeDevice({ deviceId: 'device-ghost', reason: 'x' })).rejects.toBeInstanceOf(
        UnknownDeviceError,
      );
    });

    it('refuses changes and audit entries from a revoked device', async () => {
      const { store } = await setupWithDevice('device-1');
      await store.revokeDevice({ deviceId: 'device-1', reason: 'Lost' });
      await expect(store.appendChanges(makeBatch('device-1', 'tx-1', 1))).rejects.toBeInstanceOf(DeviceRevokedError);
      const chain = new AuditChainBuilder('device-1');
      await expect(
        store.appendAuditEntries({ deviceId: 'device-1', epoch: 1, entries: chain.next(1) }),
      ).rejects.toBeInstanceOf(DeviceRevokedError);
      expect((await store.pullChanges({ after: 0, limit: 10 })).changes).toEqual([]);
      expect(await store.auditLogSize()).toBe(0);
    });
  });
}
