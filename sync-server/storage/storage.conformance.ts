/**
 * The one conformance suite every SyncStorage implementation passes, and the storage-level
 * cross-tenant attack suite. Each implementation's integration test calls
 * `describeSyncStorageConformance` with a harness that opens its storage.
 *
 * Tests share no mutable state: each opens its own storage and creates its own clinics (the
 * PostgreSQL harness shares one database per file, which clinic isolation makes safe to share).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../shared/hashing.js';
import { rootOf } from '../../shared/merkle/tree.js';
import { auditLeafHash } from './audit-append.js';
import { describeCompactionConformance } from './compaction.conformance.js';
import {
  AuditChainBuilder,
  TestClock,
  checkpointKeys,
  enrollDevice,
  forgedEntry,
  makeBatch,
  makeChange,
  newDevicePublicKey,
  textOf,
} from './conformance-fixtures.js';
import { nodeSha256 } from './node-crypto.js';
import {
  AuditChainRejectedError,
  CLINIC_STORE_OPERATIONS,
  ChangeConflictError,
  type ChangeInput,
  CheckpointRejectedError,
  type ClinicStore,
  type ClinicStoreOperation,
  DeviceRevokedError,
  DuplicateDeviceError,
  EnrollmentCodeError,
  InvalidInputError,
  type SyncStorage,
  UnknownClinicError,
  UnknownDeviceError,
} from './storage.js';

/** How the suites open one implementation. */
export interface StorageHarness {
  /** Names the implementation in test titles. */
  readonly name: string;
  /** A new storage using `clock`; the suite closes it after the test. */
  open(clock: TestClock): Promise<SyncStorage>;
  /** Every value stored anywhere in the storage's backing store (all tables, all files), as text. */
  dumpStoredText(storage: SyncStorage): Promise<string>;
}

/** Defines the conformance and cross-tenant tests for one implementation. */
export function describeSyncStorageConformance(harness: StorageHarness): void {
  const opened: SyncStorage[] = [];
  afterEach(async () => {
    for (const storage of opened.splice(0)) await storage.close();
  });

  async function setup() {
    const clock = new TestClock();
    const storage = await harness.open(clock);
    opened.push(storage);
    const clinic = await storage.createClinic({ name: 'Smile Dental' });
    const store = await storage.clinic(clinic.clinicId);
    return { clock, storage, clinic, store };
  }

  async function setupWithDevice(deviceId = 'device-1') {
    const context = await setup();
    const device = await enrollDevice(context.storage, context.store, deviceId);
    return { ...context, device };
  }

  describe(`${harness.name} storage: clinics`, () => {
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

  describe(`${harness.name} storage: challenge nonces`, () => {
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

  describe(`${harness.name} storage: enrollment codes`, () => {
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
      const stored = await harness.dumpStoredText(storage);
      expect(stored.length).toBeGreaterThan(0);
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace(/-/g, ''));
      expect(stored.toLowerCase()).not.toContain(code.replace(/-/g, '').toLowerCase());
    });
  });

  describe(`${harness.name} storage: devices`, () => {
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

  describe(`${harness.name} storage: changes`, () => {
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

  describe(`${harness.name} storage: device audit chains`, () => {
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

  describe(`${harness.name} storage: security events`, () => {
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

  describe(`${harness.name} storage: quarantine and user directory`, () => {
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

  describeCompactionConformance(harness.name, setup);

  describe(`${harness.name} storage: cross-tenant isolation`, () => {
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
      const storage = await harness.open(clock);
      opened.push(storage);
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
      const storage = await harness.open(clock);
      opened.push(storage);
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
      const storage = await harness.open(clock);
      opened.push(storage);
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
