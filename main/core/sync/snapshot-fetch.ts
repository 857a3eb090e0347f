/**
 * Fetches and checks a clinic snapshot (shared/sync/snapshot.ts; docs/sync-protocol.md, "Snapshot
 * bootstrap"): the signed manifest (`GET /v1/snapshot`), then every chunk it names
 * (`GET /v1/snapshot/chunk`), a few in flight at once. Nothing is written here: the caller writes
 * only a snapshot that passed every check, so a refused one changes nothing.
 *
 * Checks, in order: the manifest's Ed25519 signature by the pinned checkpoint key over the domain
 * tag and the manifest's exact text; the manifest's shape and clinic; each chunk's SHA-256 over
 * its exact bytes against the manifest's entry for its position (a chunk altered, swapped with
 * another or cut short fails here); the chunk's shape, and that it names its snapshot, position,
 * entity and row count as the manifest does; and that every chunk the manifest names arrived.
 */
import { createHash, createPublicKey, verify } from 'node:crypto';
import { Base64Error, decodeBase64 } from '../../../shared/merkle/base64.js';
import { NoteFormatError, parseEd25519VerifierKey } from '../../../shared/merkle/signed-note.js';
import {
  SNAPSHOT_SIGNATURE_DOMAIN,
  type SignedSnapshotManifest,
  type SnapshotChunk,
  type SnapshotManifest,
  SnapshotRefusedError,
  checkChunkAgainstManifest,
  snapshotChunkSchema,
  snapshotManifestSchema,
} from '../../../shared/sync/snapshot.js';
import { nodeSha256 } from '../platform/node-hashing.js';
import { snapshotChunk, snapshotManifest } from '../../../shared/sync/wire/snapshot.js';
import { type FetchLike, SyncRequestError, callSyncRoute, openSyncRoute, readAnswer } from './sync-http.js';

/**
 * How long the manifest may take: a server holding no recent snapshot builds one from the whole
 * change log while the device waits (seconds for 100,000 patients, more on a busy server).
 */
const MANIFEST_TIMEOUT_MS = 300_000;

/** Chunk requests kept in flight: the server reads the next while this device checks one. */
const CHUNKS_IN_FLIGHT = 3;

// DER prefix of an Ed25519 public key in SPKI form (RFC 8410); the raw 32 bytes follow.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A snapshot whose every check passed. */
export interface VerifiedSnapshot {
  readonly manifest: SnapshotManifest;
  /** The chunks, in manifest order. */
  readonly chunks: readonly SnapshotChunk[];
}

/** Where to fetch a snapshot from and what it must be signed by. */
export interface SnapshotSource {
  readonly fetch: FetchLike;
  readonly serverUrl: string;
  readonly token: string;
  /** The server's clinic id the snapshot must name. */
  readonly serverClinicId: string;
  /** The pinned checkpoint verifier key (`<name>+<id>+<base64>`). */
  readonly verifierKey: string;
  readonly timeoutMs?: number;
}

/**
 * Fetches the clinic's snapshot and checks it; throws SnapshotRefusedError for a snapshot that
 * fails a check, or SyncRequestError for a request that failed (NOT_FOUND from a server without
 * snapshots, or one that dropped the snapshot while its chunks were fetched).
 */
export async function fetchVerifiedSnapshot(source: SnapshotSource): Promise<VerifiedSnapshot> {
  const chunks: SnapshotChunk[] = [];
  const manifest = await fetchVerifiedChunks(source, (chunk) => chunks.push(chunk));
  return { manifest, chunks };
}

/**
 * Fetches the clinic's snapshot as fetchVerifiedSnapshot does, handing each chunk to `onChunk` in
 * manifest order as soon as it passed its checks, and keeping none: a caller that merges in memory
 * (a join) then holds each chunk's rows only while it merges them, instead of every chunk until
 * the last arrives (at 200,000 rows that kept them long enough to cost a join about a second of
 * garbage collection). Such a caller must write nothing durable before this returns: a later
 * chunk can still be refused. Answers the verified manifest.
 */
export async function fetchVerifiedChunks(
  source: SnapshotSource,
  onChunk: (chunk: SnapshotChunk) => void,
): Promise<SnapshotManifest> {
  const signed = await callSyncRoute(
    source.fetch,
    source.serverUrl,
    snapshotManifest,
    {},
    { token: source.token, timeoutMs: Math.max(source.timeoutMs ?? 0, MANIFEST_TIMEOUT_MS) },
  );
  const manifest = verifiedManifest(signed, source);
  const request = (index: number) => {
    const response = openSyncRoute(
      source.fetch,
      source.serverUrl,
      snapshotChunk,
      { query: { snapshotId: manifest.snapshotId, index } },
      { token: source.token, ...(source.timeoutMs === undefined ? {} : { timeoutMs: source.timeoutMs }) },
    ).then(chunkBytes);
    // Asked for ahead: a failure surfaces when its turn comes, not as an unhandled rejection.
    response.catch(() => undefined);
    return response;
  };
  const inFlight: Array<Promise<Buffer>> = [];
  for (let index = 0; index < Math.min(CHUNKS_IN_FLIGHT, manifest.chunks.length); index++)
    inFlight.push(request(index));
  for (let index = 0; index < manifest.chunks.length; index++) {
    const bytes = await inFlight.shift()!;
    const next = index + CHUNKS_IN_FLIGHT;
    if (next < manifest.chunks.length) inFlight.push(request(next));
    onChunk(verifiedChunk(manifest, index, bytes));
  }
  return manifest;
}

/** Checks the manifest's signature, then its shape and clinic. */
export function verifiedManifest(
  signed: SignedSnapshotManifest,
  source: Pick<SnapshotSource, 'verifierKey' | 'serverClinicId'>,
): SnapshotManifest {
  let publicKey: Uint8Array;
  let signature: Uint8Array;
  try {
    publicKey = parseEd25519VerifierKey(nodeSha256, source.verifierKey).publicKey;
    signature = decodeBase64(signed.signature);
  } catch (error) {
    if (error instanceof NoteFormatError || error instanceof Base64Error) throw new SnapshotRefusedError('signature');
    throw error;
  }
  const message = Buffer.from(SNAPSHOT_SIGNATURE_DOMAIN + signed.manifest, 'utf8');
  const key = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
  if (signature.length !== 64 || !verify(null, message, key, signature)) throw new SnapshotRefusedError('signature');
  let json: unknown;
  try {
    json = JSON.parse(signed.manifest) as unknown;
  } catch {
    throw new SnapshotRefusedError('malformed-manifest');
  }
  const manifest = snapshotManifestSchema.safeParse(json);
  if (!manifest.success) throw new SnapshotRefusedError('malformed-manifest');
  if (manifest.data.clinicId !== source.serverClinicId) throw new SnapshotRefusedError('other-clinic');
  return manifest.data;
}

/** Checks one chunk's bytes against the manifest's entry for position `index`, then parses it. */
export function verifiedChunk(manifest: SnapshotManifest, index: number, bytes: Buffer): SnapshotChunk {
  const entry = manifest.chunks[index];
  if (!entry) throw new SnapshotRefusedError('missing-chunk');
  if (bytes.length !== entry.bytes || createHash('sha256').update(bytes).digest('hex') !== entry.sha256) {
    throw new SnapshotRefusedError('chunk-hash');
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8')) as unknown;
  } catch {
    throw new SnapshotRefusedError('malformed-chunk');
  }
  const chunk = snapshotChunkSchema.safeParse(json);
  if (!chunk.success) throw new SnapshotRefusedError('malformed-chunk');
  checkChunkAgainstManifest(manifest, index, chunk.data);
  return chunk.data;
}

/** A chunk answer's exact bytes; a refusal (a chunk the server no longer holds) as its SyncRequestError. */
async function chunkBytes(response: Response): Promise<Buffer> {
  if (!response.ok) {
    await readAnswer(response);
    throw new SyncRequestError(response.status, 'BAD_ANSWER');
  }
  try {
    return Buffer.from(await response.arrayBuffer());
  } catch {
    throw new SyncRequestError(null, 'NETWORK');
  }
}
