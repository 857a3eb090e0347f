/**
 * Strict standard base64 after RFC 4648 section 4 (alphabet A-Z a-z 0-9 + /, `=` padding), as the
 * C2SP signed-note and tlog-checkpoint specifications require. shared/ has neither Buffer nor
 * atob, hence this small codec.
 *
 * Decoding is canonical (RFC 4648 section 3.5): it refuses missing or extra padding, characters
 * outside the alphabet (including whitespace and line breaks, section 3.3), and non-zero pad bits,
 * so every byte string has exactly one accepted text. That matters for signed notes: a note whose
 * signature could be spelt two ways would not be the note that was signed.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Thrown for text that is not canonical standard base64. */
export class Base64Error extends Error {
  override readonly name = 'Base64Error';
}

/** Standard base64 text of some bytes, padded with `=`. */
export function encodeBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const triple = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out +=
      ALPHABET[triple >> 18]! + ALPHABET[(triple >> 12) & 63]! + ALPHABET[(triple >> 6) & 63]! + ALPHABET[triple & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const byte = bytes[i]!;
    out += ALPHABET[byte >> 2]! + ALPHABET[(byte & 3) << 4]! + '==';
  } else if (rest === 2) {
    const pair = (bytes[i]! << 8) | bytes[i + 1]!;
    out += ALPHABET[pair >> 10]! + ALPHABET[(pair >> 4) & 63]! + ALPHABET[(pair & 15) << 2]! + '=';
  }
  return out;
}

/** Bytes of canonical standard base64 text; throws Base64Error on anything else. */
export function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new Base64Error('base64 length is not a multiple of 4');
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  const fullQuads = padding === 0 ? text.length / 4 : text.length / 4 - 1;
  let o = 0;
  for (let q = 0; q < fullQuads; q++) {
    const s = q * 4;
    const quad =
      (sextet(text, s) << 18) | (sextet(text, s + 1) << 12) | (sextet(text, s + 2) << 6) | sextet(text, s + 3);
    out[o++] = quad >> 16;
    out[o++] = (quad >> 8) & 255;
    out[o++] = quad & 255;
  }
  if (padding > 0) {
    const s = fullQuads * 4;
    const a = sextet(text, s);
    const b = sextet(text, s + 1);
    if (padding === 2) {
      if ((b & 15) !== 0) throw new Base64Error('base64 has non-zero pad bits');
      out[o++] = (a << 2) | (b >> 4);
    } else {
      const c = sextet(text, s + 2);
      if ((c & 3) !== 0) throw new Base64Error('base64 has non-zero pad bits');
      out[o++] = (a << 2) | (b >> 4);
      out[o++] = ((b & 15) << 4) | (c >> 2);
    }
  }
  return out;
}

// One alphabet character's value; `=` and everything else outside the alphabet throws.
function sextet(text: string, index: number): number {
  const code = text.charCodeAt(index);
  const value = code < 128 ? DECODE[code]! : -1;
  if (value < 0) throw new Base64Error(`invalid base64 character at ${index}`);
  return value;
}
