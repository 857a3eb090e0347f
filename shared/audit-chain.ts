/**
 * The per-device audit hash chain: hash_n = SHA-256(hash_{n-1} ‖ canonical JSON of entry n),
 * with canonical JSON after RFC 8785 and a genesis hash per device and epoch. Pure functions;
 * the SHA-256 implementation is injected (node:crypto in main and on the sync server).
 *
 * The hash covers the stored canonical bytes themselves, never a re-serialisation, so a verifier
 * reproduces it from what is on disk.
 */
import { canonicalJson } from './canonical-json.js';
import { type Sha256, fromHex, toHex } from './hashing.js';
import { z } from 'zod';

/** Who did what to which entity, as recorded in one audit entry. No patient data ever. */
export const auditEntryBodySchema = z.strictObject({
  v: z.literal(1),
  deviceId: z.string().min(1),
  epoch: z.number().int().min(1),
  seq: z.number().int().min(1),
  time: z.number().int().min(0),
  userId: z.string().nullable(),
  role: z.string().nullable(),
  action: z.string().min(1),
  entityType: z.string().nullable(),
  entityId: z.string().nullable(),
  outcome: z.enum(['success', 'denied', 'error']),
  purpose: z.string().min(1),
  legalBasis: z.string().min(1),
  details: z.record(z.string(), z.union([z.string(), z.number().int(), z.boolean(), z.null()])),
});

/** One audit entry's content, before it is chained. */
export type AuditEntryBody = z.infer<typeof auditEntryBodySchema>;

/** One stored link of the chain. */
export interface ChainedAuditEntry {
  readonly seq: number;
  /** The canonical JSON bytes exactly as stored (UTF-8 text). */
  readonly body: string;
  readonly prevHash: string;
  readonly hash: string;
}

const GENESIS_DOMAIN = 'chairside/audit-genesis/v1\n';

/** The hash that precedes sequence 1 of a device's chain in a given epoch. */
export function auditGenesisHash(sha256: Sha256, deviceId: string, epoch: number): string {
  return toHex(sha256(GENESIS_DOMAIN, canonicalJson({ deviceId, epoch })));
}

/** Canonical text of an entry body; what is stored and hashed. */
export function canonicalAuditBody(body: AuditEntryBody): string {
  return canonicalJson(body);
}

/** The chain hash of one entry given its predecessor's hash and its stored canonical text. */
export function chainHash(sha256: Sha256, prevHash: string, body: string): string {
  return toHex(sha256(fromHex(prevHash), body));
}

/** Result of checking a chain: ok, or the first sequence at which it breaks and why. */
export type ChainVerification =
  | { readonly ok: true; readonly entries: number; readonly headSeq: number; readonly headHash: string }
  | { readonly ok: false; readonly entries: number; readonly firstBadSeq: number; readonly reason: string };

/** Expected head, when the verifier knows one from elsewhere (a stored head, a witness). */
export interface KnownHead {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Verifies one device epoch's chain, given its entries in stored order. Detects edited bodies
 * and hashes (hash mismatch), deleted, inserted and reordered entries (sequence or link break),
 * and truncation when a known head is given (the chain ends before it or disagrees with it).
 * `checkEntry` lets the caller compare its own indexed columns with the parsed body.
 */
export function verifyAuditChain(
  sha256: Sha256,
  genesis: string,
  entries: Iterable<ChainedAuditEntry>,
  options: {
    knownHead?: KnownHead;
    checkEntry?: (entry: ChainedAuditEntry, body: AuditEntryBody) => string | null;
  } = {},
): ChainVerification {
  let expectedSeq = 1;
  let prevHash = genesis;
  let count = 0;
  const known = options.knownHead;
  for (const entry of entries) {
    count++;
    const fail = (reason: string): ChainVerification => ({
      ok: false,
      entries: count,
      firstBadSeq: Math.min(expectedSeq, entry.seq),
      reason,
    });
    if (entry.seq !== expectedSeq) return fail(`expected sequence ${expectedSeq}, found ${entry.seq}`);
    if (entry.prevHash !== prevHash) return fail('link to the previous entry is broken');
    // Hash first: it is the cheap, decisive check, and a body that hashes right was written by us.
    if (chainHash(sha256, prevHash, entry.body) !== entry.hash) return fail('hash does not match the entry');
    let parsed: AuditEntryBody;
    try {
      // Not a full schema parse: the hash already proves the bytes are the ones written, and
      // verification must run at hundreds of thousands of entries a second.
      parsed = JSON.parse(entry.body) as AuditEntryBody;
    } catch {
      return fail('entry body is not valid JSON');
    }
    if (parsed.seq !== entry.seq) return fail('sequence in the body differs from the stored sequence');
    const mismatch = options.checkEntry?.(entry, parsed);
    if (mismatch) return fail(mismatch);
    if (known && entry.seq === known.seq && entry.hash !== known.hash) {
      return fail('entry differs from the recorded head');
    }
    prevHash = entry.hash;
    expectedSeq++;
  }
  const headSeq = expectedSeq - 1;
  if (known && headSeq < known.seq) {
    return {
      ok: false,
      entries: count,
      firstBadSeq: headSeq + 1,
      reason: 'chain is shorter than its recorded head (truncated)',
    };
  }
  return { ok: true, entries: count, headSeq, headHash: prevHash };
}
