/**
 * The hash primitive shared code needs, injected by the runtime that owns it: node:crypto in
 * main and on the sync server. shared/ itself imports no crypto, so it stays free of Node and
 * DOM APIs and never carries a hand-written hash.
 */

/** SHA-256 over the concatenation of the chunks; strings are hashed as their UTF-8 bytes. */
export type Sha256 = (...chunks: ReadonlyArray<Uint8Array | string>) => Uint8Array;

const HEX_DIGITS = '0123456789abcdef';

/** Lower-case hexadecimal text of some bytes. */
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) {
    out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!;
  }
  return out;
}

/** Bytes of lower- or upper-case hexadecimal text; throws on anything else. */
export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new Error('not a hexadecimal string');
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}
