/**
 * The one conformance suite every SyncStorage implementation passes, and the storage-level
 * cross-tenant attack suite, split by storage area as the storage is (one file per area beside
 * this one). Each implementation's integration test calls `describeSyncStorageConformance` with a
 * harness that opens its storage.
 *
 * Tests share no mutable state: each opens its own storage and creates its own clinics (the
 * PostgreSQL harness shares one database per file, which clinic isolation makes safe to share).
 */
import { afterEach } from 'vitest';
import { describeAuditLogConformance } from './audit-log.conformance.js';
import { describeChangeLogConformance } from './change-log.conformance.js';
import { describeCompactionConformance } from './compaction.conformance.js';
import type { ConformanceContext } from './conformance-context.js';
import { TestClock, enrollDevice } from './conformance-fixtures.js';
import { describeDeviceConformance } from './device.conformance.js';
import { describeQuarantineConformance } from './quarantine.conformance.js';
import { describeTenantIsolationConformance } from './tenant-isolation.conformance.js';
import type { SyncStorage } from '../../../sync-server/storage/storage.js';

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

  async function open(clock: TestClock) {
    const storage = await harness.open(clock);
    opened.push(storage);
    return storage;
  }

  const context: ConformanceContext = {
    name: harness.name,
    setup,
    setupWithDevice,
    open,
    dumpStoredText: (storage) => harness.dumpStoredText(storage),
  };
  describeDeviceConformance(context);
  describeChangeLogConformance(context);
  describeAuditLogConformance(context);
  describeQuarantineConformance(context);
  describeCompactionConformance(harness.name, setup);
  describeTenantIsolationConformance(context);
}
