/**
 * Offline verification of an audit export (export-format.ts), needing no server and no
 * database. Checked, in this order:
 *
 * 1. the header, and the checkpoint note's Ed25519 signature by the verifier key (the one the
 *    auditor was given, else the file's own), its origin, and that its size and root are the
 *    header's;
 * 2. every entry in leaf order: consecutive leaf indexes, the body an audit entry naming the same
 *    device, epoch and sequence, and the device chain of (device, epoch) from its genesis hash
 *    with no gap, edit, reorder or broken link (shared/audit-chain.ts), epochs never going back;
 * 3. the number of entries equals the checkpoint's size, and the RFC 6962 root over every leaf
 *    hash (the server's leaf format: device, epoch, sequence, chain hash, receipt time) equals the
 *    signed root;
 * 4. given a checkpoint the clinic kept outside the server (`--since-checkpoint`: one a device
 *    pinned, or an earlier export's): signed by the same key for the same log, and proven a prefix
 *    of this export's checkpoint by an RFC 9162 consistency proof. Steps 1-3 only show the export
 *    is what the server signed; a log whose tail was cut off in the server's database before the
 *    export still passes them (issue #11, finding 5), and only an older checkpoint shows the loss.
 *
 * The first failure ends verification and names the entry where it was found. A changed receipt
 * time changes only its leaf hash, so it shows as a root mismatch, which no single entry can be
 * blamed for.
 */
import {
  AuditChainVerifier,
  type AuditEntryBody,
  auditEntryBodySchema,
  auditGenesisHash,
} from '../../shared/audit-chain.js';
import { Base64Error, decodeBase64, encodeBase64 } from '../../shared/merkle/base64.js';
import { verifyCheckpoint } from '../../shared/merkle/checkpoint.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import {
  NoteFormatError,
  type NoteVerifier,
  ed25519NoteVerifier,
  parseEd25519VerifierKey,
} from '../../shared/merkle/signed-note.js';
import { verifyConsistency } from '../../shared/merkle/verify.js';
import { verifyEd25519 } from '../auth/server-keys.js';
import { auditLeafHash } from '../storage/audit-append.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { type ExportEntry, type ExportHeader, exportEntrySchema, exportHeaderSchema } from './export-format.js';

/** Where verification failed: the line (1-based) and, for an entry, which one. */
export interface BadEntry {
  readonly line: number;
  readonly leafIndex?: number;
  readonly deviceId?: string;
  readonly epoch?: number;
  readonly seq?: number;
}

/** The verdict, printed as one JSON line by the command. */
export type ExportVerdict =
  | {
      readonly ok: true;
      readonly clinicId: string;
      readonly entries: number;
      readonly chains: number;
      readonly devices: number;
      readonly size: number;
      readonly rootHash: string;
      /** Whose key verified the checkpoint: the auditor's (`argument`) or the file's own. */
      readonly keySource: 'argument' | 'file';
      /** The size of the saved checkpoint proven a prefix of this export, when one was given. */
      readonly sinceCheckpointSize?: number;
    }
  | { readonly ok: false; readonly reason: string; readonly firstBad?: BadEntry };

interface Chain {
  readonly verifier: AuditChainVerifier;
  readonly deviceId: string;
  readonly epoch: number;
}

/** Verifies an export line by line; feed every line, then call finish(). */
export class AuditExportVerifier {
  private header: ExportHeader | null = null;
  private rootHash: Uint8Array | null = null;
  private failure: ExportVerdict | null = null;
  private line = 0;
  private readonly log = new MerkleLog(nodeSha256);
  private readonly chains = new Map<string, Chain>();
  private readonly latestEpoch = new Map<string, number>();
  private noteVerifier: NoteVerifier | null = null;

  /** `sinceCheckpoint`: the signed note of a checkpoint kept outside the server, which this export must extend. */
  constructor(
    private readonly verifierKey?: string,
    private readonly sinceCheckpoint?: string,
  ) {}

  /** Checks the next line; false once verification has failed (later lines are ignored). */
  add(text: string): boolean {
    if (this.failure) return false;
    this.line++;
    if (this.line === 1) this.failure = this.checkHeader(text);
    else if (text.length > 0 || this.header === null) this.failure = this.checkEntry(text);
    return this.failure === null;
  }

  /** The verdict once every line was added. */
  finish(): ExportVerdict {
    if (this.failure) return this.failure;
    const header = this.header;
    if (header === null || this.rootHash === null) return { ok: false, reason: 'the file is empty' };
    for (const chain of this.chains.values()) {
      const closed = chain.verifier.finish();
      if (!closed.ok) return { ok: false, reason: `chain: ${closed.reason}`, firstBad: { line: this.line } };
    }
    if (this.log.size !== header.checkpoint.size) {
      return {
        ok: false,
        reason: `the export holds ${this.log.size} entries, the checkpoint signs ${header.checkpoint.size}`,
        firstBad: { line: this.line + 1, leafIndex: this.log.size },
      };
    }
    const root = this.log.root(this.log.size);
    if (!bytesEqual(root, this.rootHash)) {
      return { ok: false, reason: 'the Merkle root over the entries differs from the signed checkpoint' };
    }
    const since = this.sinceCheckpoint === undefined ? null : this.checkSince(this.sinceCheckpoint, header, root);
    if (since !== null && typeof since !== 'number') return since;
    return {
      ok: true,
      clinicId: header.clinicId,
      entries: this.log.size,
      chains: this.chains.size,
      devices: this.latestEpoch.size,
      size: header.checkpoint.size,
      rootHash: encodeBase64(root),
      keySource: this.verifierKey === undefined ? 'file' : 'argument',
      ...(since === null ? {} : { sinceCheckpointSize: since }),
    };
  }

  /** The saved checkpoint's size once proven a prefix of this export, or the failing verdict. */
  private checkSince(note: string, header: ExportHeader, root: Uint8Array): number | ExportVerdict {
    const opened = verifyCheckpoint(note, [this.noteVerifier!], { origin: header.origin });
    if (!opened.ok) return { ok: false, reason: `saved checkpoint: ${opened.reason}` };
    const saved = opened.checkpoint;
    const size = this.log.size;
    if (saved.size > size) {
      return {
        ok: false,
        reason: `saved checkpoint covers ${saved.size} leaves but the export's signed checkpoint ${size}: entries the server once signed for were removed (truncated)`,
      };
    }
    const proof = this.log.consistencyProof(saved.size, size);
    if (!verifyConsistency(nodeSha256, saved.size, size, proof, saved.rootHash, root)) {
      return {
        ok: false,
        reason: `saved checkpoint of ${saved.size} leaves is not a prefix of the export's signed checkpoint of ${size}: the first ${saved.size} leaves were rewritten (forked)`,
      };
    }
    return saved.size;
  }

  private checkHeader(text: string): ExportVerdict | null {
    const bad = (reason: string): ExportVerdict => ({ ok: false, reason, firstBad: { line: 1 } });
    const parsed = exportHeaderSchema.safeParse(parseJson(text));
    if (!parsed.success) return bad('the header is not an audit export header');
    const header = parsed.data;
    let key: ReturnType<typeof parseEd25519VerifierKey>;
    try {
      key = parseEd25519VerifierKey(nodeSha256, this.verifierKey ?? header.verifierKey);
    } catch (error) {
      if (error instanceof NoteFormatError) return bad('the verifier key is malformed');
      throw error;
    }
    const verifier = ed25519NoteVerifier(
      key.keyName,
      key.publicKey,
      (message, signature, publicKey) => verifyEd25519(publicKey, message, signature),
      nodeSha256,
    );
    const verified = verifyCheckpoint(header.checkpoint.note, [verifier], { origin: header.origin });
    if (!verified.ok) return bad(`checkpoint: ${verified.reason}`);
    this.noteVerifier = verifier;
    if (header.origin !== `chairside/clinic-audit/${header.clinicId}`) return bad('the origin is not the clinic’s');
    let rootHash: Uint8Array;
    try {
      rootHash = decodeBase64(header.checkpoint.rootHash);
    } catch (error) {
      if (error instanceof Base64Error) return bad('the checkpoint root is not base64');
      throw error;
    }
    if (
      verified.checkpoint.size !== header.checkpoint.size ||
      !bytesEqual(verified.checkpoint.rootHash, rootHash) ||
      header.entries !== header.checkpoint.size
    ) {
      return bad('the header’s size or root differs from the signed checkpoint');
    }
    this.header = header;
    this.rootHash = rootHash;
    return null;
  }

  private checkEntry(text: string): ExportVerdict | null {
    const parsed = exportEntrySchema.safeParse(parseJson(text));
    if (!parsed.success) return { ok: false, reason: 'not an audit export entry', firstBad: { line: this.line } };
    const entry = parsed.data;
    const bad = (reason: string): ExportVerdict => ({
      ok: false,
      reason,
      firstBad: {
        line: this.line,
        leafIndex: entry.leafIndex,
        deviceId: entry.deviceId,
        epoch: entry.epoch,
        seq: entry.seq,
      },
    });
    if (entry.leafIndex !== this.log.size) return bad(`expected leaf ${this.log.size}, found ${entry.leafIndex}`);
    const body = auditEntryBodySchema.safeParse(parseJson(entry.body));
    if (!body.success) return bad('the body is not an audit entry');
    const mismatch = bodyMismatch(entry, body.data);
    if (mismatch) return bad(mismatch);
    const latest = this.latestEpoch.get(entry.deviceId) ?? 0;
    if (entry.epoch < latest) return bad(`epoch ${entry.epoch} after epoch ${latest} of the same device`);
    this.latestEpoch.set(entry.deviceId, entry.epoch);
    const key = `${entry.deviceId}\n${entry.epoch}`;
    let chain = this.chains.get(key);
    if (!chain) {
      chain = {
        verifier: new AuditChainVerifier(nodeSha256, auditGenesisHash(nodeSha256, entry.deviceId, entry.epoch)),
        deviceId: entry.deviceId,
        epoch: entry.epoch,
      };
      this.chains.set(key, chain);
    }
    const broken = chain.verifier.add(entry);
    if (broken && !broken.ok) return bad(`chain: ${broken.reason}`);
    this.log.appendLeafHash(auditLeafHash(entry));
    return null;
  }
}

/** Verifies a whole export held in memory (tests, small logs); the command streams instead. */
export function verifyAuditExport(
  lines: Iterable<string>,
  verifierKey?: string,
  sinceCheckpoint?: string,
): ExportVerdict {
  const verifier = new AuditExportVerifier(verifierKey, sinceCheckpoint);
  for (const line of lines) if (!verifier.add(line)) break;
  return verifier.finish();
}

function bodyMismatch(entry: ExportEntry, body: AuditEntryBody): string | null {
  if (body.deviceId !== entry.deviceId || body.epoch !== entry.epoch || body.seq !== entry.seq) {
    return 'the body names another device, epoch or sequence';
  }
  return null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
