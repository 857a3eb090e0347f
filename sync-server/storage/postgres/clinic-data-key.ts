/**
 * Encryption at rest of the PostgreSQL storage (docs/threat-model.md): each clinic has its own
 * 32-byte data key, made at random when the clinic is created and stored only wrapped
 * (AES-256-GCM) under a key derived with HKDF-SHA256 (RFC 5869) from the server master key, the
 * same master key the embedded storage derives its file keys from (sqlite/key-source.ts; another
 * salt and info, so no derived key is shared between the two). Every column that can hold
 * patient data is sealed with the clinic's data key: AES-256-GCM, a random 96-bit nonce, and
 * associated data naming the clinic, the column and the row, so a ciphertext copied to another
 * row, column or clinic fails to open instead of being served as that row's data.
 *
 * Sealed layout (bytea): version byte 0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16). One AES-GCM
 * per change, never one per field: the push path pays for it on every accepted change.
 *
 * Random nonces under one key stay safe up to about 2^32 messages (NIST SP 800-38D, 8.3); a
 * clinic writes far fewer changes than that in its lifetime.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** Bytes of randomness on demand (node:crypto's randomBytes unless a test injects its own). */
export type RandomBytes = (size: number) => Buffer;

/** Thrown when a sealed value or a wrapped key does not open: wrong key, moved or damaged. */
export class SealedValueError extends Error {
  override readonly name = 'SealedValueError';
}

const VERSION = 0x01;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Length of a wrapped data key: version, nonce, 32 bytes of key, tag. */
export const WRAPPED_KEY_BYTES = 1 + NONCE_BYTES + KEY_BYTES + TAG_BYTES;

const WRAP_SALT = 'chairside/sync-server/postgres-keys/v1';
const WRAP_INFO = 'clinic-data-key-wrapping';

/** What a sealed value is: the column it lives in, which the associated data names. */
export type SealedColumn = 'changes.fields' | 'quarantined_changes.detail';

/**
 * Random nonces drawn from a pool filled 1,024 at a time: the push path seals every change, and
 * one call of the random source per change was about a third of the sealing cost (profiled).
 */
class NoncePool {
  private pool: Buffer = Buffer.alloc(0);
  private offset = 0;

  constructor(private readonly random: RandomBytes) {}

  next(): Buffer {
    if (this.offset + NONCE_BYTES > this.pool.length) {
      this.pool = this.random(NONCE_BYTES * 1_024);
      if (this.pool.length !== NONCE_BYTES * 1_024) throw new Error('the nonce source gave the wrong length');
      this.offset = 0;
    }
    const nonce = this.pool.subarray(this.offset, this.offset + NONCE_BYTES);
    this.offset += NONCE_BYTES;
    return nonce;
  }
}

function seal(key: Buffer, plaintext: string | Buffer, aad: Buffer, nonce: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
  cipher.final(); // GCM is a stream mode: final() adds no bytes, it computes the tag
  return Buffer.concat([Buffer.of(VERSION), nonce, body, cipher.getAuthTag()]);
}

function decipherFor(key: Buffer, sealed: Buffer, aad: Buffer) {
  if (sealed.length < 1 + NONCE_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
    throw new SealedValueError('not a sealed value of this version');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 1 + NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  return { decipher, body: sealed.subarray(1 + NONCE_BYTES, sealed.length - TAG_BYTES) };
}

const NOT_OPENED = 'a sealed value did not open: another key, row or clinic, or damaged';

/** Opens a sealed UTF-8 text (the text decoded straight from the decipher, no intermediate copy). */
function openText(key: Buffer, sealed: Buffer, aad: Buffer): string {
  const { decipher, body } = decipherFor(key, sealed, aad);
  try {
    const text = decipher.update(body, undefined, 'utf8');
    return text + decipher.final('utf8');
  } catch {
    throw new SealedValueError(NOT_OPENED);
  }
}

function openBytes(key: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const { decipher, body } = decipherFor(key, sealed, aad);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new SealedValueError(NOT_OPENED);
  }
}

/**
 * Opened texts of recently read sealed values, shared by every clinic of a process, so a change
 * pulled by each of a clinic's devices in turn is deciphered once, not once per device. Keyed by
 * the associated data and the whole ciphertext: a hit is exactly the bytes that opened under that
 * associated data before, so a ciphertext moved to another row or altered misses and fails to
 * open as before. Bounded (least recently used out first): it holds what the server serves
 * anyway, never more than `capacity` values.
 */
export class OpenedValueCache {
  private readonly values = new Map<string, string>();

  constructor(readonly capacity = 16_384) {}

  /** The cached text, refreshed as most recently used; undefined when absent. */
  get(key: string): string | undefined {
    const value = this.values.get(key);
    if (value !== undefined) {
      this.values.delete(key);
      this.values.set(key, value);
    }
    return value;
  }

  set(key: string, value: string): void {
    this.values.set(key, value);
    if (this.values.size > this.capacity) this.values.delete(this.values.keys().next().value!);
  }
}

/**
 * The associated data of a sealed value: its column, its clinic and the row's identity. The parts
 * are joined with NUL, which no part holds (they are ids and names stored in PostgreSQL text
 * columns, which refuse NUL), so no two different tuples give the same bytes.
 */
function associatedText(column: SealedColumn, clinicId: string, row: readonly string[]): string {
  return `chairside/${column}/v1\0${clinicId}\0${row.join('\0')}`;
}

function associatedData(column: SealedColumn, clinicId: string, row: readonly string[]): Buffer {
  return Buffer.from(associatedText(column, clinicId, row), 'utf8');
}

/** The identity a sealed change's fields are bound to (the change and where its fields apply). */
export interface ChangeIdentity {
  readonly changeId: string;
  readonly entity: string;
  readonly rowId: string;
  readonly op: string;
  readonly hlc: string;
}

// Each key's entries in the shared cache carry its own number: no key is ever answered from what
// another key opened (two keys of one clinic exist only in tests, but the cache must not care).
let keysMade = 0;

const changeRow = (change: ChangeIdentity) => [change.changeId, change.entity, change.rowId, change.op, change.hlc];

/** One clinic's data key, able to seal and open that clinic's columns. */
export class ClinicDataKey {
  readonly #key: Buffer;
  readonly #nonces: NoncePool;
  readonly #cacheScope = String(++keysMade);

  constructor(
    readonly clinicId: string,
    key: Buffer,
    random: RandomBytes = randomBytes,
    private readonly opened: OpenedValueCache = new OpenedValueCache(),
  ) {
    if (key.length !== KEY_BYTES) throw new Error('a clinic data key is 32 bytes');
    this.#key = Buffer.from(key);
    this.#nonces = new NoncePool(random);
  }

  /** Seals a change's canonical fields JSON. */
  sealChangeFields(change: ChangeIdentity, fieldsJson: string): Buffer {
    const aad = associatedData('changes.fields', this.clinicId, changeRow(change));
    return seal(this.#key, fieldsJson, aad, this.#nonces.next());
  }

  /** Opens a change's fields JSON; throws SealedValueError when it belongs elsewhere. */
  openChangeFields(change: ChangeIdentity, sealed: Buffer): string {
    const aad = associatedText('changes.fields', this.clinicId, changeRow(change));
    const cacheKey = `${this.#cacheScope}\0${aad}\0${sealed.toString('base64')}`;
    const cached = this.opened.get(cacheKey);
    if (cached !== undefined) return cached;
    const fields = openText(this.#key, sealed, Buffer.from(aad, 'utf8'));
    this.opened.set(cacheKey, fields);
    return fields;
  }

  /** Seals a quarantined change's detail (a refusal's words may quote what the device sent). */
  sealQuarantineDetail(changeId: string, detail: string): Buffer {
    const aad = associatedData('quarantined_changes.detail', this.clinicId, [changeId]);
    return seal(this.#key, detail, aad, this.#nonces.next());
  }

  /** Opens a quarantined change's detail. */
  openQuarantineDetail(changeId: string, sealed: Buffer): string {
    const aad = associatedData('quarantined_changes.detail', this.clinicId, [changeId]);
    return openText(this.#key, sealed, aad);
  }
}

/**
 * Wraps and unwraps clinic data keys under the key-wrapping key derived from the server master
 * key. A wrapped key is bound to its clinic (associated data), so one copied onto another
 * clinic's row does not unwrap.
 */
export class ClinicKeyWrapper {
  readonly #wrappingKey: Buffer;
  // One cache for every clinic key this wrapper makes: its bound holds per process, not per clinic.
  private readonly opened = new OpenedValueCache();

  constructor(
    masterKey: Buffer,
    private readonly random: RandomBytes = randomBytes,
  ) {
    if (masterKey.length !== KEY_BYTES) throw new Error('the server master key must be 32 bytes');
    this.#wrappingKey = Buffer.from(hkdfSync('sha256', masterKey, WRAP_SALT, WRAP_INFO, KEY_BYTES));
  }

  /** A new random data key for `clinicId`, with its wrapped form to store. */
  newDataKey(clinicId: string): { readonly key: ClinicDataKey; readonly wrapped: Buffer } {
    const raw = this.random(KEY_BYTES);
    if (raw.length !== KEY_BYTES) throw new Error('the key source gave the wrong length');
    const nonce = this.random(NONCE_BYTES);
    if (nonce.length !== NONCE_BYTES) throw new Error('the nonce source gave the wrong length');
    const wrapped = seal(this.#wrappingKey, raw, wrapAad(clinicId), nonce);
    const key = new ClinicDataKey(clinicId, raw, this.random, this.opened);
    raw.fill(0);
    return { key, wrapped };
  }

  /** The clinic's data key from its stored wrapped form; throws SealedValueError under another master key. */
  unwrap(clinicId: string, wrapped: Buffer): ClinicDataKey {
    if (wrapped.length !== WRAPPED_KEY_BYTES) throw new SealedValueError('a wrapped data key has the wrong length');
    const raw = openBytes(this.#wrappingKey, wrapped, wrapAad(clinicId));
    const key = new ClinicDataKey(clinicId, raw, this.random, this.opened);
    raw.fill(0);
    return key;
  }
}

function wrapAad(clinicId: string): Buffer {
  return Buffer.from(`chairside/clinics.wrapped_data_key/v1\0${clinicId}`, 'utf8');
}
