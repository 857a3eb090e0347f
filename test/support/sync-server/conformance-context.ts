/**
 * What each area's conformance cases (the *.conformance.ts files beside this one) get from the
 * suite that runs them (storage.conformance.ts): the storage's name and ways to open it, each
 * storage opened here closed after its test.
 */
import type { Clinic, ClinicStore, Device, SyncStorage } from '../../../sync-server/storage/storage.js';
import type { TestClock } from './conformance-fixtures.js';

/** A new storage with one clinic and its store. */
export interface ConformanceClinic {
  readonly clock: TestClock;
  readonly storage: SyncStorage;
  readonly clinic: Clinic;
  readonly store: ClinicStore;
}

/** The storage under test, as the area suites reach it. */
export interface ConformanceContext {
  /** Names the implementation in test titles. */
  readonly name: string;
  /** A new storage and a clinic in it. */
  setup(): Promise<ConformanceClinic>;
  /** The same, with one enrolled device (`device-1` unless named). */
  setupWithDevice(deviceId?: string): Promise<ConformanceClinic & { readonly device: Device }>;
  /** A new storage using `clock`, closed after the test. */
  open(clock: TestClock): Promise<SyncStorage>;
  /** Every value stored anywhere in the storage's backing store, as text. */
  dumpStoredText(storage: SyncStorage): Promise<string>;
}
