/**
 * How the server tells that a device's pull starts behind the compaction horizon
 * (docs/sync-protocol.md, "Snapshot bootstrap"). A device asks for a page only after committing
 * the one before, so the cursor the server recorded for it (ClinicStore.recordPulledCursor) is a
 * position it had durably applied. Compaction removes changes at or below the lowest such cursor
 * only. A device asking from below its own recorded cursor has therefore gone back (its database
 * was restored from a backup): changes between the two may have been compacted away, and its own
 * changes of that stretch come back to it only through a snapshot, since a pull skips a device's
 * own changes. A pull from at or above the recorded cursor needs nothing compaction removed.
 */
/**
 * True when a device pulls from below the cursor it had already pulled past (`pulledBefore`, as
 * ClinicStore.pullChangesForDevice answers it; null when it never pulled).
 */
export function pullsBehindItsCursor(pulledBefore: number | null, after: number): boolean {
  return pulledBefore !== null && pulledBefore > after;
}
