import { describe, expect, it } from 'vitest';
import { Utf8Error, encodeUtf8, isWellFormedText, utf8Length } from './utf8.js';

describe('encodeUtf8', () => {
  it('encodes one to four byte sequences', () => {
    expect(encodeUtf8('a\u00e9\u2014\u{1f9b7}')).toEqual(
      Uint8Array.of(0x61, 0xc3, 0xa9, 0xe2, 0x80, 0x94, 0xf0, 0x9f, 0xa6, 0xb7),
    );
    expect(utf8Length('a\u00e9\u2014\u{1f9b7}')).toBe(10);
    expect(encodeUtf8('')).toEqual(new Uint8Array(0));
  });

  it('refuses lone surrogates instead of replacing them', () => {
    for (const text of ['\ud800', 'a\udc00b', '\ud83e', '\udfb7\ud83e']) {
      expect(isWellFormedText(text)).toBe(false);
      expect(() => encodeUtf8(text)).toThrow(Utf8Error);
    }
    expect(isWellFormedText('\u{1f9b7}')).toBe(true);
  });
});
