/**
 * The snapshots a server process holds, per clinic, kept current so that a joining device does not
 * wait for a build (docs/sync-protocol.md, "Snapshot bootstrap"). Building one reads and merges
 * the whole change log (seconds at 100,000 patients), so:
 *
 * - a held snapshot is served at once, however old: the device pulls the changes after its cursor;
 * - when the log of a clinic whose snapshot is held grows (the change notifier, from any process),
 *   a new one is built in the background once the log has been quiet for `refreshDelayMs`, and at
 *   most once per `minRefreshIntervalMs`, so a busy clinic costs one build a minute, not one a push;
 * - a request waits for a build only when nothing held can serve it: no snapshot yet (the first
 *   request after a start), one behind the cursor the asking device has already pulled past (a
 *   device restored from a backup must come out of its re-bootstrap at or beyond where it was, or
 *   its next pull would send it back here), or one whose tail was compacted.
 *
 * Compaction: a held snapshot at cursor C is served only while every change numbered after C is
 * still in the log. Server sequence numbers are given without gaps (inside the append's
 * transaction), so a gap after C means compaction removed a change the device would need after
 * the snapshot: a tombstoned row's delete above C, say, whose insert the snapshot holds. That
 * snapshot is dropped and a new one built (from a log compaction left equivalent). The check reads
 * the tail after C when the manifest is asked for, after the device enrolled: from then on the
 * horizon is at most that device's cursor (0 until it pulls), so compaction removes nothing above C
 * before the device has pulled past it.
 *
 * Memory: at most `maxClinics` clinics (least recently asked for go first), each with its newest
 * snapshot and the one before it (kept so that a device still fetching its chunks can finish):
 * about 43 MB per snapshot at 100,000 patients. Only clinics held are refreshed, and only while a
 * device asked for their snapshot within `keepCurrentMs` (a build costs seconds of CPU: a busy
 * clinic nobody joins is not rebuilt every minute; its snapshots are let go instead).
 */
import type { Clock } from '../../shared/clock.js';
import { MAX_PAGE_SIZE } from '../../shared/sync/wire/records.js';
import type { ClinicStore } from '../storage/storage.js';
import { type BuiltSnapshot, buildSnapshot } from './snapshot-build.js';

/** What a cache reads and builds from. */
export type SnapshotStore = Pick<ClinicStore, 'clinicId' | 'pullChanges' | 'latestChangeSeq'>;

/** How a cache decides. */
export interface SnapshotCacheOptions {
  /** Clinics whose snapshots are held at once; the least recently asked for goes first (default 4). */
  readonly maxClinics?: number;
  /** Rows per chunk (tests cut smaller chunks). */
  readonly chunkRows?: number;
  /** Quiet time after a notified append before a background rebuild starts (default 2 s). */
  readonly refreshDelayMs?: number;
  /** Least time between two builds of one clinic's snapshot (default 60 s). */
  readonly minRefreshIntervalMs?: number;
  /** How long after a device last asked for a clinic's snapshot it is kept current (default 15 min). */
  readonly keepCurrentMs?: number;
}

/** What a cache needs from the server. */
export interface SnapshotCacheDeps {
  readonly clock: Clock;
  /** Signs with the server's checkpoint key (ServerKeys.signCheckpoint). */
  readonly sign: (message: Uint8Array) => Uint8Array;
  /** Opens a clinic's store for a background rebuild; without it, snapshots are built on request only. */
  readonly openStore?: (clinicId: string) => Promise<SnapshotStore>;
  /** Told of a background rebuild that failed (the held snapshot stays; the next request checks it). */
  readonly onRefreshFailed?: (clinicId: string, error: unknown) => void;
}

interface ClinicSnapshots {
  latest: BuiltSnapshot | null;
  previous: BuiltSnapshot | null;
  building: Promise<BuiltSnapshot> | null;
  /** When the newest build started (clock ms), for the refresh interval. */
  builtAt: number;
  /** When a device last asked for this clinic's snapshot (clock ms). */
  askedAt: number;
  /** The background rebuild waiting for the log to be quiet. */
  timer: ReturnType<typeof setTimeout> | null;
  /** The log grew while a build ran: one more when it ends. */
  grewDuringBuild: boolean;
}

/** How many builds a request waits for before it gives up (each found its tail compacted). */
const MAX_BUILDS_PER_REQUEST = 3;

/** Built snapshots by clinic, the builds in progress and the rebuilds scheduled. */
export class SnapshotCache {
  private readonly clinics = new Map<string, ClinicSnapshots>();
  private readonly maxClinics: number;
  private readonly refreshDelayMs: number;
  private readonly minRefreshIntervalMs: number;
  private readonly keepCurrentMs: number;
  private closed = false;

  constructor(
    private readonly deps: SnapshotCacheDeps,
    private readonly options: SnapshotCacheOptions = {},
  ) {
    this.maxClinics = options.maxClinics ?? 4;
    this.refreshDelayMs = options.refreshDelayMs ?? 2_000;
    this.minRefreshIntervalMs = options.minRefreshIntervalMs ?? 60_000;
    this.keepCurrentMs = options.keepCurrentMs ?? 15 * 60_000;
  }

  /**
   * A snapshot of the clinic for a device that has pulled up to `pulledCursor` (0 for a new
   * device): the held one when it is not behind that cursor and its tail is whole, otherwise a
   * new build (shared with any build in progress).
   */
  async snapshotFor(store: SnapshotStore, pulledCursor: number): Promise<BuiltSnapshot> {
    const held = this.entry(store.clinicId);
    held.askedAt = this.deps.clock.now();
    const latest = held.latest;
    if (latest && latest.manifest.cursor >= pulledCursor) {
      if (await tailIsWhole(store, latest.manifest.cursor)) return latest;
      this.drop(held, latest);
    }
    for (let attempt = 0; attempt < MAX_BUILDS_PER_REQUEST; attempt++) {
      const built = await this.build(held, store);
      // A build that started before this device's cursor moved cannot serve it: one more build.
      if (built.manifest.cursor < pulledCursor) continue;
      if (await tailIsWhole(store, built.manifest.cursor)) return built;
      this.drop(held, built);
    }
    throw new Error('no snapshot of the clinic stayed whole while it was built');
  }

  /** Builds the clinic's snapshot now and holds it (a server warming a clinic, the bench's seed). */
  refresh(store: SnapshotStore): Promise<BuiltSnapshot> {
    const held = this.entry(store.clinicId);
    held.askedAt = this.deps.clock.now();
    return this.build(held, store);
  }

  /**
   * The change notifier's listener: the clinic's log reached `latestSeq`. A clinic whose snapshot
   * is held and behind it gets a background rebuild; others are left alone (bounded memory).
   */
  logGrew(clinicId: string, latestSeq: number): void {
    const held = this.clinics.get(clinicId);
    if (this.closed || !held?.latest || !this.deps.openStore) return;
    if (latestSeq <= held.latest.manifest.cursor) return;
    if (this.deps.clock.now() - held.askedAt > this.keepCurrentMs) {
      // Nobody joined lately: let the snapshots go rather than rebuild them every minute.
      if (held.timer) clearTimeout(held.timer);
      this.clinics.delete(clinicId);
      return;
    }
    if (held.building) {
      held.grewDuringBuild = true;
      return;
    }
    this.scheduleRefresh(clinicId, held);
  }

  /** Whether a background rebuild of the clinic is waiting or running (tests and the bench wait on it). */
  refreshPending(clinicId: string): boolean {
    const held = this.clinics.get(clinicId);
    return held !== undefined && (held.timer !== null || held.building !== null);
  }

  /** A chunk's bytes of a snapshot this process holds for the clinic, or null (unknown or replaced since). */
  chunk(clinicId: string, snapshotId: string, index: number): Buffer | null {
    const held = this.clinics.get(clinicId);
    for (const snapshot of [held?.latest, held?.previous]) {
      if (snapshot?.manifest.snapshotId === snapshotId) return snapshot.chunks[index] ?? null;
    }
    return null;
  }

  /** Stops scheduling rebuilds and waits for the builds in progress (the server is closing). */
  async close(): Promise<void> {
    this.closed = true;
    const building: Array<Promise<unknown>> = [];
    for (const held of this.clinics.values()) {
      if (held.timer) clearTimeout(held.timer);
      held.timer = null;
      if (held.building) building.push(held.building.catch(() => undefined));
    }
    await Promise.all(building);
  }

  private scheduleRefresh(clinicId: string, held: ClinicSnapshots): void {
    if (held.timer) clearTimeout(held.timer);
    const sinceBuild = this.deps.clock.now() - held.builtAt;
    const delay = Math.max(this.refreshDelayMs, this.minRefreshIntervalMs - sinceBuild);
    held.timer = setTimeout(() => {
      held.timer = null;
      if (this.closed || this.clinics.get(clinicId) !== held) return;
      const openStore = this.deps.openStore!;
      openStore(clinicId)
        .then((store) => this.build(held, store))
        .catch((error: unknown) => this.deps.onRefreshFailed?.(clinicId, error));
    }, delay);
    // A pending rebuild never keeps the process alive.
    held.timer.unref?.();
  }

  private build(held: ClinicSnapshots, store: SnapshotStore): Promise<BuiltSnapshot> {
    if (held.building) return held.building;
    if (held.timer) {
      clearTimeout(held.timer);
      held.timer = null;
    }
    held.grewDuringBuild = false;
    held.builtAt = this.deps.clock.now();
    held.building = buildSnapshot({
      store,
      sign: this.deps.sign,
      now: held.builtAt,
      ...(this.options.chunkRows === undefined ? {} : { chunkRows: this.options.chunkRows }),
    })
      .then((built) => {
        held.previous = held.latest;
        held.latest = built;
        return built;
      })
      .finally(() => {
        held.building = null;
        if (held.grewDuringBuild && held.latest && !this.closed && this.clinics.get(store.clinicId) === held) {
          this.scheduleRefresh(store.clinicId, held);
        }
      });
    return held.building;
  }

  /** Forgets a snapshot found unfit to serve, so no device is handed it again. */
  private drop(held: ClinicSnapshots, snapshot: BuiltSnapshot): void {
    if (held.latest === snapshot) held.latest = null;
    if (held.previous === snapshot) held.previous = null;
  }

  private entry(clinicId: string): ClinicSnapshots {
    let held = this.clinics.get(clinicId);
    if (held) {
      // Most recently asked for last: Map keeps insertion order.
      this.clinics.delete(clinicId);
    } else {
      held = {
        latest: null,
        previous: null,
        building: null,
        builtAt: 0,
        askedAt: 0,
        timer: null,
        grewDuringBuild: false,
      };
    }
    this.clinics.set(clinicId, held);
    while (this.clinics.size > this.maxClinics) {
      const [oldestId, oldest] = this.clinics.entries().next().value!;
      if (oldest.timer) clearTimeout(oldest.timer);
      this.clinics.delete(oldestId);
    }
    return held;
  }
}

/**
 * Whether every change numbered after `cursor`, up to the latest number given before the read,
 * is still in the log (numbers are given without gaps, so a missing one was compacted away).
 * Reads the tail a device would pull after the snapshot; the cache keeps it short.
 */
export async function tailIsWhole(store: SnapshotStore, cursor: number): Promise<boolean> {
  const latest = await store.latestChangeSeq();
  let expected = cursor + 1;
  let after = cursor;
  while (expected <= latest) {
    const page = await store.pullChanges({ after, limit: MAX_PAGE_SIZE });
    for (const change of page.changes) {
      if (change.serverSeq !== expected) return false;
      expected++;
    }
    if (!page.hasMore || page.cursor <= after) break;
    after = page.cursor;
  }
  return expected > latest;
}
