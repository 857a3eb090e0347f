/**
 * The per-device audit hash chain: hash_n = SHA-256(hash_{n-1} ‖ canonical JSON of entry n),
 * with canonical JSON after RFC 8785 and a genesis hash per device and epoch. Pure functions;
 * the SHA-256 implementation is injected (node:crypto in main and on the sync server).
 *
 * The hash covers the stored canonical bytes themselves, never a re-serialisation, so a verifier
 * reproduces it from what is on disk.
 */
import { canonicalJson } from './canonical-json.js';
import { type Sha256, fromHex, hexEquals, toHex } from './hashing.js';
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

/** Options of a chain verification. */
export interface ChainVerificationOptions {
  /** A head known from elsewhere (the stored head, a witness): the chain must reach and match it. */
  readonly knownHead?: KnownHead;
  /** Lets a caller that stores fields outside the body compare them with the parsed body. */
  readonly checkEntry?: (entry: ChainedAuditEntry, body: AuditEntryBody) => string | null;
}

/**
 * Verifies one device epoch's chain entry by entry, as the entries stream in stored order.
 * Detects edited bodies and hashes (hash mismatch), deleted, inserted and reordered entries
 * (sequence or link break), and truncation when a known head is given.
 */
export class AuditChainVerifier {
  private expectedSeq = 1;
  private prevHash: string;
  // The previous digest as bytes, carried over so no hash is decoded from hex again.
  private prevBytes: Uint8Array;
  private count = 0;

  constructor(
    private readonly sha256: Sha256,
    genesis: string,
    private readonly options: ChainVerificationOptions = {},
  ) {
    this.prevHash = genesis;
    this.prevBytes = fromHex(genesis);
  }

  /** Checks the next entry; returns the failure when the chain breaks here, else null. */
  add(entry: ChainedAuditEntry): ChainVerification | null {
    this.count++;
    const reason = checkLink(entry, this.expectedSeq, this.prevHash) ?? this.checkContent(entry);
    if (reason) {
      return { ok: false, entries: this.count, firstBadSeq: Math.min(this.expectedSeq, entry.seq), reason };
    }
    return null;
  }

  private checkContent(entry: ChainedAuditEntry): string | null {
    // Hash first: it is the cheap, decisive check, and a body that hashes right was written by us.
    const digest = this.sha256(this.prevBytes, entry.body);
    if (!hexEquals(digest, entry.hash)) return 'hash does not match the entry';
    if (this.options.checkEntry) {
      // Not a full schema parse: the hash already proves the bytes are the ones written.
      let parsed: AuditEntryBody;
      try {
        parsed = JSON.parse(entry.body) as AuditEntryBody;
      } catch {
        return 'entry body is not valid JSON';
      }
      const mismatch =
        parsed.seq === entry.seq ? this.options.checkEntry(entry, parsed) : 'sequence in the body differs';
      if (mismatch) return mismatch;
    }
    const known = this.options.knownHead;
    if (known && entry.seq === known.seq && entry.hash !== known.hash) return 'entry differs from the recorded head';
    this.prevHash = entry.hash;
    this.prevBytes = digest;
    this.expectedSeq++;
    return null;
  }

  /** The verdict once every entry was added. */
  finish(): ChainVerification {
    const headSeq = this.expectedSeq - 1;
    const known = this.options.knownHead;
    if (known && headSeq < known.seq) {
      return {
        ok: false,
        entries: this.count,
        firstBadSeq: headSeq + 1,
        reason: 'chain is shorter than its recorded head (truncated)',
      };
    }
    return { ok: true, entries: this.count, headSeq, headHash: this.prevHash };
  }
}

/** Verifies one device epoch's chain given its entries in stored order; see AuditChainVerifier. */
export function verifyAuditChain(
  sha256: Sha256,
  genesis: string,
  entries: Iterable<ChainedAuditEntry>,
  options: ChainVerificationOptions = {},
): ChainVerification {
  const verifier = new AuditChainVerifier(sha256, genesis, options);
  for (const entry of entries) {
    const failed = verifier.add(entry);
    if (failed) return failed;
  }
  return verifier.finish();
}

function checkLink(entry: ChainedAuditEntry, expectedSeq: number, prevHash: string): string | null {
  if (entry.seq !== expectedSeq) return `expected sequence ${expectedSeq}, found ${entry.seq}`;
  if (entry.prevHash !== prevHash) return 'link to the previous entry is broken';
  return null;
}
