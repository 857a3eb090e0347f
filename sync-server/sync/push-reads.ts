/**
 * The reads one push shares between its batches. Re-validating a batch needs three lookups (its
 * changes already quarantined, its authors in the user directory, the pushing device's number),
 * and a fourth, the patients' branches, only for branch-limited authors and for medical histories
 * inserted without their patient in the same batch (not shared: see below);
 * a push carries up to 100 batches, and on PostgreSQL each lookup is its own transaction of four
 * round trips. Here each lookup is made once for the whole push, in chunks of the storage's
 * limit, and answered from memory for every batch.
 *
 * The answers are those of the push's start, as the per-batch reads were those of each batch's
 * start: a concurrent push may change the directory in between either way. What this push itself
 * changes is never missed: after a batch quarantined something or updated the directory,
 * `invalidate` sends every later batch of the push back to the storage.
 */
import type { ClinicStore, DirectoryLookup, QuarantinedChange } from '../storage/storage.js';
import { MAX_CHANGES_PER_BATCH } from '../storage/storage.js';

/** What re-validating one batch reads. */
export interface BatchReads {
  /** The changes among `changeIds` already quarantined, in quarantine order. */
  quarantined(changeIds: readonly string[]): Promise<QuarantinedChange[]>;
  /** The directory entries of these users, and the directory's size. */
  directory(userIds: readonly string[]): Promise<DirectoryLookup>;
  /** The pushing device's number in its clinic, or null when unknown. */
  deviceNumber(): Promise<number | null>;
  /** The change log's branch of each of these patients (patient id → branch id; unknown ones absent). */
  patientBranches(patientIds: readonly string[]): Promise<ReadonlyMap<string, string>>;
  /** This push changed the quarantine or the directory: later batches read the storage again. */
  invalidate(): void;
}

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += MAX_CHANGES_PER_BATCH) {
    out.push(items.slice(start, start + MAX_CHANGES_PER_BATCH));
  }
  return out;
}

/** The patients' branches, in chunks of the storage's limit. */
async function readPatientBranches(store: ClinicStore, patientIds: readonly string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const chunk of chunks([...new Set(patientIds)])) {
    for (const row of await store.readPatientBranches(chunk)) found.set(row.patientId, row.branchId);
  }
  return found;
}

/** Reads straight from the storage, batch by batch (a push of one batch, or after `invalidate`). */
export function storeReads(store: ClinicStore, deviceId: string): BatchReads {
  return {
    quarantined: (changeIds) => store.findQuarantinedChanges(changeIds),
    directory: (userIds) => store.readUserDirectory(userIds),
    deviceNumber: async () => (await store.getDevice(deviceId))?.deviceNumber ?? null,
    patientBranches: (patientIds) => readPatientBranches(store, patientIds),
    invalidate: () => undefined,
  };
}

/** Reads for a whole push: one lookup of every change id and every author, then answers from memory. */
export class PushReads implements BatchReads {
  private readonly direct: BatchReads;
  private quarantine: Promise<Map<string, QuarantinedChange>> | null = null;
  private users: Promise<DirectoryLookup> | null = null;
  private stale = false;

  constructor(
    private readonly store: ClinicStore,
    deviceId: string,
    /** The device's number as its token's device record holds it. */
    private readonly knownDeviceNumber: number | null,
    private readonly changeIds: readonly string[],
    private readonly userIds: readonly string[],
  ) {
    this.direct = storeReads(store, deviceId);
  }

  async quarantined(changeIds: readonly string[]): Promise<QuarantinedChange[]> {
    if (this.stale) return this.direct.quarantined(changeIds);
    this.quarantine ??= (async () => {
      const found = new Map<string, QuarantinedChange>();
      for (const chunk of chunks([...new Set(this.changeIds)])) {
        for (const row of await this.store.findQuarantinedChanges(chunk)) found.set(row.changeId, row);
      }
      return found;
    })();
    const found = await this.quarantine;
    if (found.size === 0) return [];
    const wanted = new Set(changeIds);
    // Quarantine order, as the storage answers.
    return [...found.values()].filter((row) => wanted.has(row.changeId));
  }

  async directory(userIds: readonly string[]): Promise<DirectoryLookup> {
    if (this.stale) return this.direct.directory(userIds);
    this.users ??= (async () => {
      const users: DirectoryLookup['users'][number][] = [];
      let size = 0;
      const ids = [...new Set(this.userIds)].sort();
      // Even a push naming no user learns the directory's size (the founding-Admin rule needs it).
      for (const chunk of ids.length > 0 ? chunks(ids) : [[]]) {
        const lookup = await this.store.readUserDirectory(chunk);
        users.push(...lookup.users);
        size = lookup.size;
      }
      return { users, size };
    })();
    const all = await this.users;
    const wanted = new Set(userIds);
    return { users: all.users.filter((user) => wanted.has(user.userId)), size: all.size };
  }

  async deviceNumber(): Promise<number | null> {
    return this.knownDeviceNumber;
  }

  // Not cached for the push: a patient placed by an earlier batch of this push must be seen (the
  // push route lets that batch commit first), and only batches by branch-limited authors touching
  // existing patients, or inserting a medical history of one, ask.
  async patientBranches(patientIds: readonly string[]): Promise<ReadonlyMap<string, string>> {
    return readPatientBranches(this.store, patientIds);
  }

  invalidate(): void {
    this.stale = true;
  }
}
