/**
 * What a user signs (docs/sync-protocol.md, "User-signed changes"): the pure parts, shared by the
 * devices that sign (main/core/auth/user-keys.ts) and the server that verifies
 * (sync-server/sync/batch-signature.ts); the Ed25519 operations are node:crypto's on each end.
 *
 * A device signs each local transaction (one pushed batch) once, when the transaction commits,
 * with the key of the user whose session made it: one signature per batch rather than per change
 * keeps the server's verification cost per transaction. The text covers every field of every
 * change, in change-id order, so the server can verify a batch whatever order it arrives in.
 */
import { canonicalJson } from '../canonical-json.js';

/** The domain tag of a signed batch: the tag, then the canonical JSON of the batch. */
export const SIGNED_BATCH_DOMAIN = 'chairside/signed-batch/v1\n';

/** The domain tag of a user's proof for a server route that acts for them (enrollment codes). */
export const USER_PROOF_DOMAIN = 'chairside/user-proof/v1\n';

/** How far a user proof's time may be from the server's: a proof is good for this long. */
export const USER_PROOF_WINDOW_MS = 5 * 60_000;

/** The fields of a change a signature covers: all of them (as recorded, or as pushed before parsing). */
interface SignedChange {
  readonly changeId: string;
  readonly txId: string;
  readonly deviceId: string;
  readonly userId: string;
  readonly entity: string;
  readonly rowId: string;
  readonly op: string;
  readonly fields: Readonly<Record<string, string | number | boolean | null>>;
  readonly hlc: string;
  readonly schemaVersion: number;
}

/** The text (UTF-8) a user signs for one local transaction's changes. */
export function batchSigningText(txId: string, changes: readonly SignedChange[]): string {
  const sorted = [...changes].sort((a, b) => (a.changeId < b.changeId ? -1 : a.changeId > b.changeId ? 1 : 0));
  return (
    SIGNED_BATCH_DOMAIN +
    canonicalJson({
      txId,
      changes: sorted.map((change) => ({
        changeId: change.changeId,
        txId: change.txId,
        deviceId: change.deviceId,
        userId: change.userId,
        entity: change.entity,
        rowId: change.rowId,
        op: change.op,
        fields: change.fields,
        hlc: change.hlc,
        schemaVersion: change.schemaVersion,
      })),
    })
  );
}

/** What a user proves to a server route that acts for them: who, for which route and device, when. */
export interface UserProofClaims {
  readonly route: string;
  readonly clinicId: string;
  readonly deviceId: string;
  readonly userId: string;
  readonly issuedAt: number;
  /** The request's own parameters, so a proof is not reused for another request. */
  readonly request: Readonly<Record<string, string | number | null>>;
}

/** The text (UTF-8) a user signs to prove a request to a server route is theirs. */
export function userProofText(claims: UserProofClaims): string {
  return (
    USER_PROOF_DOMAIN +
    canonicalJson({
      route: claims.route,
      clinicId: claims.clinicId,
      deviceId: claims.deviceId,
      userId: claims.userId,
      issuedAt: claims.issuedAt,
      request: { ...claims.request },
    })
  );
}
