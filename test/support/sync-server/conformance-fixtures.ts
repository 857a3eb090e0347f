/**
 * Factories for the storage conformance and cross-tenant suites: a controllable clock, device
 * keys, changes, real device audit chains (built with shared/audit-chain.ts) and signed
 * checkpoints (shared/merkle). Test support only; the server never imports it.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { type AuditEntryBody, auditGenesisHash, canonicalAuditBody, chainHash } from '../../../shared/audit-chain.js';
import type { Clock } from '../../../shared/clock.js';
import { toHex } from '../../../shared/hashing.js';
import { formatCheckpoint, signCheckpoint, verifyCheckpoint } from '../../../shared/merkle/checkpoint.js';
import { ed25519NoteVerifier } from '../../../shared/merkle/signed-note.js';
import { encodeHlc } from '../../../shared/sync/hlc.js';
import { nodeSha256 } from '../../../sync-server/storage/node-crypto.js';
import type { StoredChange } from '../../../sync-server/storage/records.js';
import type {
  AuditEntryInput,
  ChangeBatch,
  ChangeInput,
  ClinicStore,
  Device,
  SyncStorage,
} from '../../../sync-server/storage/storage.js';

/** A clock the test moves by hand. */
export class TestClock implements Clock {
  constructor(private time = 1_760_000_000_000) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}

/** Every change a clinic's log holds, in server order, pulled page by page from cursor 0. */
export async function pullWholeLog(store: ClinicStore): Promise<StoredChange[]> {
  const changes: StoredChange[] = [];
  let after = 0;
  for (;;) {
    const page = await store.pullChanges({ after, limit: 1000 });
    changes.push(...page.changes);
    if (!page.hasMore) return changes;
    after = page.cursor;
  }
}

/** The raw 32-byte public half of a new Ed25519 key pair. */
export function newDevicePublicKey(): Uint8Array {
  const { publicKey } = generateKeyPairSync('ed25519');
  // The SPKI DER of an Ed25519 key ends with the 32 raw key bytes (RFC 8410).
  return new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
}

/** Creates an enrollment code in the clinic and redeems it for a new device. */
export async function enrollDevice(
  storage: SyncStorage,
  store: ClinicStore,
  deviceId: string,
  name = `Device ${deviceId}`,
): Promise<Device> {
  const { code } = await store.createEnrollmentCode({ ttlMs: 60_000, createdBy: 'admin-1' });
  const enrolled = await storage.redeemEnrollmentCode({ code, deviceId, name, publicKey: newDevicePublicKey() });
  return enrolled.device;
}

/**
 * A device `front-desk-1` that edited one patient's name three times (one transaction) and pulled
 * everything: compaction removes the first two edits.
 */
export async function seedSupersededEdits(storage: SyncStorage, store: ClinicStore): Promise<void> {
  await enrollDevice(storage, store, 'front-desk-1');
  const changes = [1, 2, 3].map((n) =>
    makeChange('front-desk-1', 'tx-1', n, { entity: 'patient', rowId: 'p1', fields: { first_name: `Name ${n}` } }),
  );
  await store.appendChanges({ deviceId: 'front-desk-1', txId: 'tx-1', changes });
  await store.recordPulledCursor('front-desk-1', 3);
}

/** One change of a device's transaction; `n` numbers it within the transaction. */
export function makeChange(
  deviceId: string,
  txId: string,
  n: number,
  overrides: Partial<ChangeInput> = {},
): ChangeInput {
  return {
    changeId: `${txId}-c${n}`,
    txId,
    deviceId,
    userId: 'user-1',
    entity: 'patients',
    rowId: `row-${txId}-${n}`,
    op: 'update',
    fields: { first_name: `Name ${n}`, visits: n, active: true, note: null },
    hlc: encodeHlc({ wallMs: 1_760_000_000_000 + n, counter: n, deviceId }),
    schemaVersion: 1,
    ...overrides,
  };
}

/** A batch of `count` changes of one transaction. */
export function makeBatch(deviceId: string, txId: string, count: number): ChangeBatch {
  return { deviceId, txId, changes: Array.from({ length: count }, (_, i) => makeChange(deviceId, txId, i + 1)) };
}

/** Builds a genuine device audit chain, entry by entry, the way a device writes it. */
export class AuditChainBuilder {
  private prevHash: string;
  private seq = 0;

  constructor(
    readonly deviceId: string,
    readonly epoch = 1,
    private readonly time = 1_760_000_000_000,
  ) {
    this.prevHash = auditGenesisHash(nodeSha256, deviceId, epoch);
  }

  /** The next `count` entries; `details` lands in each body. */
  next(count: number, details: AuditEntryBody['details'] = {}): AuditEntryInput[] {
    return Array.from({ length: count }, () => {
      this.seq++;
      const body = canonicalAuditBody({
        v: 1,
        deviceId: this.deviceId,
        epoch: this.epoch,
        seq: this.seq,
        time: this.time + this.seq,
        userId: 'user-1',
        role: 'Dentist',
        action: 'patients.view',
        entityType: 'patient',
        entityId: `p-${this.seq}`,
        outcome: 'success',
        purpose: 'treatment',
        legalBasis: 'consent',
        details,
      });
      const hash = chainHash(nodeSha256, this.prevHash, body);
      const entry = { seq: this.seq, body, prevHash: this.prevHash, hash };
      this.prevHash = hash;
      return entry;
    });
  }
}

/** An entry linked to `prevHash` at `seq` with its own body: a forged continuation. */
export function forgedEntry(deviceId: string, epoch: number, seq: number, prevHash: string): AuditEntryInput {
  const body = canonicalAuditBody({
    v: 1,
    deviceId,
    epoch,
    seq,
    time: 1,
    userId: 'intruder',
    role: null,
    action: 'patients.export',
    entityType: null,
    entityId: null,
    outcome: 'success',
    purpose: 'treatment',
    legalBasis: 'consent',
    details: {},
  });
  return { seq, body, prevHash, hash: chainHash(nodeSha256, prevHash, body) };
}

/** An Ed25519 checkpoint signer with its matching verifier, as the server and a device hold them. */
export function checkpointKeys(keyName = 'chairside-test-log') {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  return {
    /** The signed note of a checkpoint of the log `origin` at `size` with `rootHash`. */
    sign(origin: string, size: number, rootHash: Uint8Array): string {
      const text = formatCheckpoint({ origin, size, rootHash });
      return signCheckpoint(
        text,
        keyName,
        raw,
        (message) => new Uint8Array(sign(null, message, privateKey)),
        nodeSha256,
      );
    },
    /** Verifies a signed checkpoint note with the public key. */
    verify(note: string, origin: string) {
      const verifier = ed25519NoteVerifier(
        keyName,
        raw,
        (message, signature) => verify(null, message, publicKey, signature),
        nodeSha256,
      );
      return verifyCheckpoint(note, [verifier], { origin });
    },
  };
}

/** JSON text of any result, with bytes as hex, for "does this value appear anywhere" checks. */
export function textOf(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? toHex(item) : item)) ?? '';
}
