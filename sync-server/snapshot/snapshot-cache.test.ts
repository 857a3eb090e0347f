/**
 * SnapshotCache (snapshot-cache.ts): a held snapshot is served without a build, kept current in
 * the background after the log grows, and never served once compaction removed a change after its
 * cursor (a tombstone the joining device would otherwise never see).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChangeRecord } from '../../shared/sync/change.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import type { StoredChange } from '../../shared/sync/wire/records.js';
import { TestClock } from '../../test/support/sync-server/conformance-fixtures.js';
import type { ChangePage, PageQuery } from '../storage/records.js';
import { SnapshotCache, type SnapshotStore, tailIsWhole } from './snapshot-cache.js';

const CLINIC = '3f8c2a52-6f1e-4b7a-9d3c-1a2b3c4d5e6f';
const DEVICE = '01JDEV1000000000000000000A';
const USER = '01JUSER0000000000000000000';
const BRANCH = '01JBRANCH10000000000000000';
const PATIENT = '01JPATIENT0000000000000000';

const serverKey = generateKeyPairSync('ed25519').privateKey;
const signManifest = (message: Uint8Array) => new Uint8Array(sign(null, message, serverKey));

/** A clinic's change log in memory, numbered without gaps as the storages number it; `compact` removes changes. */
class FakeLog implements SnapshotStore {
  readonly clinicId = CLINIC;
  private readonly changes: StoredChange[] = [];
  private seq = 0;
  reads = 0;

  append(entity: ChangeRecord['entity'], rowId: string, op: ChangeRecord['op'], fields: ChangeRecord['fields']) {
    this.seq++;
    this.changes.push({
      changeId: `01JCHANGE${String(this.seq).padStart(17, '0')}`,
      txId: `01JCHANGE${String(this.seq).padStart(17, '0')}`,
      deviceId: DEVICE,
      userId: USER,
      entity,
      rowId,
      op,
      fields,
      hlc: encodeHlc({ wallMs: 1_000 + this.seq, counter: 0, deviceId: DEVICE }),
      schemaVersion: 1,
      serverSeq: this.seq,
      receivedAt: 1_000 + this.seq,
    });
    return this.seq;
  }

  /** What compaction does to a tombstoned row: every change of it leaves the log. */
  compactRow(rowId: string): void {
    for (let i = this.changes.length - 1; i >= 0; i--) if (this.changes[i]!.rowId === rowId) this.changes.splice(i, 1);
  }

  async pullChanges(query: PageQuery): Promise<ChangePage> {
    this.reads++;
    const after = this.changes.filter((change) => change.serverSeq > query.after);
    const page = after.slice(0, query.limit);
    const hasMore = after.length > page.length;
    return { changes: page, hasMore, cursor: hasMore ? page.at(-1)!.serverSeq : this.seq };
  }

  async latestChangeSeq(): Promise<number> {
    return this.seq;
  }
}

function seededLog(): FakeLog {
  const log = new FakeLog();
  log.append('branch', BRANCH, 'insert', { name: 'MG Road', created_at: 1 });
  log.append('patient', PATIENT, 'insert', {
    patient_number: 'P000001',
    branch_id: BRANCH,
    first_name: 'Asha',
    last_name: 'Rao',
    date_of_birth: null,
    sex: 'female',
    phone: null,
    email: null,
    address: null,
    archived_at: null,
    archive_reason: null,
    merged_into: null,
    created_at: 1,
    created_by: USER,
  });
  return log;
}

function cacheOver(log: FakeLog, clock = new TestClock(10_000)) {
  return new SnapshotCache(
    { clock, sign: signManifest, openStore: async () => log },
    { refreshDelayMs: 1_000, minRefreshIntervalMs: 30_000 },
  );
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SnapshotCache', () => {
  it('serves the held snapshot without building again after the log grew; the device pulls the rest', async () => {
    const log = seededLog();
    const cache = cacheOver(log);
    const first = await cache.snapshotFor(log, 0);
    log.append('branch', '01JBRANCH20000000000000000', 'insert', { name: 'Indiranagar', created_at: 2 });

    const second = await cache.snapshotFor(log, 0);

    expect(second).toBe(first);
    expect(second.manifest.cursor).toBe(2);
  });

  it('builds a new snapshot when a change after the held cursor was compacted away, so no delete is hidden', async () => {
    const log = seededLog();
    const cache = cacheOver(log);
    const held = await cache.snapshotFor(log, 0);
    expect(held.manifest.rows).toMatchObject({ patient: 1 });
    // The patient is deleted after the snapshot, every device pulls past it, compaction removes the row.
    log.append('patient', PATIENT, 'delete', {});
    log.compactRow(PATIENT);

    const served = await cache.snapshotFor(log, 0);

    expect(served).not.toBe(held);
    expect(served.manifest.cursor).toBe(3);
    expect(served.manifest.rows.patient ?? 0).toBe(0);
    expect(cache.chunk(CLINIC, held.manifest.snapshotId, 0)).toBeNull();
  });

  it('builds a new snapshot for a device that had pulled past the held one (restored from a backup)', async () => {
    const log = seededLog();
    const cache = cacheOver(log);
    const held = await cache.snapshotFor(log, 0);
    log.append('branch', '01JBRANCH20000000000000000', 'insert', { name: 'Indiranagar', created_at: 2 });

    const served = await cache.snapshotFor(log, 3);

    expect(served).not.toBe(held);
    expect(served.manifest.cursor).toBe(3);
  });

  it('rebuilds a held snapshot in the background once the log is quiet, at most once per interval', async () => {
    vi.useFakeTimers();
    const clock = new TestClock(100_000);
    const log = seededLog();
    const cache = cacheOver(log, clock);
    const first = await cache.snapshotFor(log, 0);

    clock.advance(40_000);
    cache.logGrew(CLINIC, log.append('branch', '01JBRANCH20000000000000000', 'insert', { name: 'B', created_at: 2 }));
    expect(cache.refreshPending(CLINIC)).toBe(true);
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.waitUntil(() => !cache.refreshPending(CLINIC));
    const refreshed = await cache.snapshotFor(log, 0);
    expect(refreshed).not.toBe(first);
    expect(refreshed.manifest.cursor).toBe(3);
    // The snapshot a device may still be fetching stays readable.
    expect(cache.chunk(CLINIC, first.manifest.snapshotId, 0)).not.toBeNull();

    // Built just now: the next rebuild waits for the interval, not only for quiet.
    cache.logGrew(CLINIC, log.append('branch', '01JBRANCH30000000000000000', 'insert', { name: 'C', created_at: 3 }));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(cache.refreshPending(CLINIC)).toBe(true);
    expect((await cache.snapshotFor(log, 0)).manifest.cursor).toBe(3);
    clock.advance(30_000);
    await vi.advanceTimersByTimeAsync(29_000);
    await vi.waitUntil(() => !cache.refreshPending(CLINIC));
    expect((await cache.snapshotFor(log, 0)).manifest.cursor).toBe(4);
    await cache.close();
  });

  it('lets a clinic nobody asked for lately go instead of rebuilding it', async () => {
    const clock = new TestClock(100_000);
    const log = seededLog();
    const cache = new SnapshotCache(
      { clock, sign: signManifest, openStore: async () => log },
      { refreshDelayMs: 1_000, minRefreshIntervalMs: 30_000, keepCurrentMs: 60_000 },
    );
    const held = await cache.snapshotFor(log, 0);
    clock.advance(61_000);
    cache.logGrew(CLINIC, log.append('branch', '01JBRANCH20000000000000000', 'insert', { name: 'B', created_at: 2 }));
    expect(cache.refreshPending(CLINIC)).toBe(false);
    // Its snapshots are gone too: the next join waits for a build of the current log.
    expect(cache.chunk(CLINIC, held.manifest.snapshotId, 0)).toBeNull();
    expect((await cache.snapshotFor(log, 0)).manifest.cursor).toBe(3);
    await cache.close();
  });

  it('leaves a clinic it holds no snapshot of alone when its log grows', async () => {
    const log = seededLog();
    const cache = cacheOver(log);
    cache.logGrew(CLINIC, 2);
    expect(cache.refreshPending(CLINIC)).toBe(false);
    expect(log.reads).toBe(0);
    await cache.close();
  });
});

describe('tailIsWhole', () => {
  it('is true while every change after the cursor is in the log, and false once one was compacted', async () => {
    const log = seededLog();
    log.append('patient', '01JPATIENT1000000000000000', 'insert', { first_name: 'Ravi' });
    expect(await tailIsWhole(log, 1)).toBe(true);
    expect(await tailIsWhole(log, 3)).toBe(true);
    log.compactRow(PATIENT);
    expect(await tailIsWhole(log, 1)).toBe(false);
    expect(await tailIsWhole(log, 2)).toBe(true);
  });
});
