/**
 * The hash primitive shared code needs, injected by the runtime that owns it: node:crypto in
 * main and on the sync server. shared/ itself imports no crypto, so it stays free of Node and
 * DOM APIs and never carries a hand-written hash.
 */

/** SHA-256 over the concatenation of the chunks; strings are hashed as their UTF-8 bytes. */
export type Sha256 = (...chunks: ReadonlyArray<Uint8Array | string>) => Uint8Array;

// Lookup tables: audit verification converts hashes hundreds of thousands of times a second.
const BYTE_TO_HEX: readonly string[] = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
const HEX_TO_NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_TO_NIBBLE['0123456789abcdef'.charCodeAt(i)] = i;
  HEX_TO_NIBBLE['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** Lower-case hexadecimal text of some bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_HEX[bytes[i]!]!;
  return out;
}

/** Bytes of lower- or upper-case hexadecimal text; throws on anything else. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0) throw new Error('not a hexadecimal string');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const high = HEX_TO_NIBBLE[hex.charCodeAt(i * 2)] ?? -1;
    const low = HEX_TO_NIBBLE[hex.charCodeAt(i * 2 + 1)] ?? -1;
    if (high < 0 || low < 0) throw new Error('not a hexadecimal string');
    out[i] = (high << 4) | low;
  }
  return out;
}

const HEX_CODES = Array.from('0123456789abcdef', (char) => char.charCodeAt(0));

/** True when the hex text spells exactly these bytes (lower case), without building a string. */
export function hexEquals(bytes: Uint8Array, hex: string): boolean {
  if (hex.length !== bytes.length * 2) return false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (hex.charCodeAt(i * 2) !== HEX_CODES[byte >> 4] || hex.charCodeAt(i * 2 + 1) !== HEX_CODES[byte & 15])
      return false;
  }
  return true;
}
