/**
 * UTF-8 encoding of strings (RFC 3629) for the bytes a signed note is signed over. shared/'s
 * ES2022 library has no TextEncoder (it is a DOM and Node global), hence this encoder.
 *
 * Strings holding a lone UTF-16 surrogate have no UTF-8 form: they are refused rather than
 * replaced with U+FFFD, because a replaced text is not the text the caller meant to sign.
 */

/** Thrown for a string that is not well-formed UTF-16 (a lone surrogate). */
export class Utf8Error extends Error {
  override readonly name = 'Utf8Error';
}

/** True when the string has no lone surrogate, so it has a UTF-8 encoding. */
export function isWellFormedText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return false;
    }
  }
  return true;
}

/** The number of bytes of the UTF-8 encoding; throws Utf8Error for a lone surrogate. */
export function utf8Length(text: string): number {
  if (!isWellFormedText(text)) throw new Utf8Error('text has a lone surrogate');
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) length += 1;
    else if (unit < 0x800) length += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      length += 4;
      i++;
    } else length += 3;
  }
  return length;
}

/** The UTF-8 bytes of a string; throws Utf8Error for a lone surrogate. */
export function encodeUtf8(text: string): Uint8Array {
  const out = new Uint8Array(utf8Length(text));
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      code = 0x10000 + ((code - 0xd800) << 10) + (text.charCodeAt(++i) - 0xdc00);
    }
    if (code < 0x80) {
      out[o++] = code;
    } else if (code < 0x800) {
      out[o++] = 0xc0 | (code >> 6);
      out[o++] = 0x80 | (code & 63);
    } else if (code < 0x10000) {
      out[o++] = 0xe0 | (code >> 12);
      out[o++] = 0x80 | ((code >> 6) & 63);
      out[o++] = 0x80 | (code & 63);
    } else {
      out[o++] = 0xf0 | (code >> 18);
      out[o++] = 0x80 | ((code >> 12) & 63);
      out[o++] = 0x80 | ((code >> 6) & 63);
      out[o++] = 0x80 | (code & 63);
    }
  }
  return out;
}
