/**
 * The snapshots a server process holds, per clinic (docs/sync-protocol.md, "Snapshot bootstrap").
 * Building one reads the whole change log, so a built snapshot is served again while it is
 * recent enough: a device may take a slightly old snapshot and pull the changes after its cursor.
 * It is rebuilt when the log has grown past it and it is older than `maxAgeMs`, and always when it
 * stands behind the cursor the asking device has already pulled past (a device restored from a
 * backup must come out of its re-bootstrap at or beyond where it was, or its next pull would send
 * it back here). Requests while a build runs share that build. The snapshot before the newest is
 * kept too, so a device still fetching its chunks can finish.
 */
import type { Clock } from '../../shared/clock.js';
import type { ClinicStore } from '../storage/storage.js';
import { type BuiltSnapshot, buildSnapshot } from './snapshot-build.js';

/** How a cache decides. */
export interface SnapshotCacheOptions {
  /** A snapshot the log has grown past is served for this long after it was built (default 60 s). */
  readonly maxAgeMs?: number;
  /** Clinics whose snapshots are held at once; the least recently asked for goes first (default 4). */
  readonly maxClinics?: number;
  /** Rows per chunk (tests cut smaller chunks). */
  readonly chunkRows?: number;
}

interface ClinicSnapshots {
  latest: BuiltSnapshot | null;
  previous: BuiltSnapshot | null;
  building: Promise<BuiltSnapshot> | null;
}

/** Built snapshots by clinic, and the builds in progress. */
export class SnapshotCache {
  private readonly clinics = new Map<string, ClinicSnapshots>();
  private readonly maxAgeMs: number;
  private readonly maxClinics: number;

  constructor(
    private readonly deps: { readonly clock: Clock; readonly sign: (message: Uint8Array) => Uint8Array },
    private readonly options: SnapshotCacheOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? 60_000;
    this.maxClinics = options.maxClinics ?? 4;
  }

  /**
   * A snapshot of the clinic for a device that has pulled up to `pulledCursor` (0 for a new
   * device): the held one if it is recent enough and not behind that cursor, or a new build.
   */
  async snapshotFor(store: ClinicStore, pulledCursor: number): Promise<BuiltSnapshot> {
    // A build that started before this device's cursor moved cannot serve it: one more build.
    const first = await this.heldOrBuilt(store, pulledCursor);
    return first.manifest.cursor >= pulledCursor ? first : this.heldOrBuilt(store, pulledCursor);
  }

  private async heldOrBuilt(store: ClinicStore, pulledCursor: number): Promise<BuiltSnapshot> {
    const held = this.entry(store.clinicId);
    const latest = held.latest;
    if (latest && latest.manifest.cursor >= pulledCursor) {
      const young = this.deps.clock.now() - latest.manifest.createdAt < this.maxAgeMs;
      if (young || (await store.latestChangeSeq()) <= latest.manifest.cursor) return latest;
    }
    held.building ??= buildSnapshot({
      store,
      sign: this.deps.sign,
      now: this.deps.clock.now(),
      ...(this.options.chunkRows === undefined ? {} : { chunkRows: this.options.chunkRows }),
    })
      .then((built) => {
        held.previous = held.latest;
        held.latest = built;
        return built;
      })
      .finally(() => {
        held.building = null;
      });
    return held.building;
  }

  /** A chunk's bytes of a snapshot this process holds for the clinic, or null (unknown or replaced since). */
  chunk(clinicId: string, snapshotId: string, index: number): Buffer | null {
    const held = this.clinics.get(clinicId);
    for (const snapshot of [held?.latest, held?.previous]) {
      if (snapshot?.manifest.snapshotId === snapshotId) return snapshot.chunks[index] ?? null;
    }
    return null;
  }

  private entry(clinicId: string): ClinicSnapshots {
    let held = this.clinics.get(clinicId);
    if (held) {
      // Most recently asked for last: Map keeps insertion order.
      this.clinics.delete(clinicId);
    } else {
      held = { latest: null, previous: null, building: null };
    }
    this.clinics.set(clinicId, held);
    while (this.clinics.size > this.maxClinics) this.clinics.delete(this.clinics.keys().next().value!);
    return held;
  }
}
