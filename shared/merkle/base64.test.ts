import { describe, expect, it } from 'vitest';
import { Base64Error, decodeBase64, encodeBase64 } from './base64.js';

function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (char) => char.charCodeAt(0));
}

// RFC 4648 section 10 test vectors.
const RFC_4648_VECTORS: ReadonlyArray<[string, string]> = [
  ['', ''],
  ['f', 'Zg=='],
  ['fo', 'Zm8='],
  ['foo', 'Zm9v'],
  ['foob', 'Zm9vYg=='],
  ['fooba', 'Zm9vYmE='],
  ['foobar', 'Zm9vYmFy'],
];

describe('base64', () => {
  it('encodes and decodes the RFC 4648 test vectors', () => {
    for (const [plain, encoded] of RFC_4648_VECTORS) {
      expect(encodeBase64(bytes(plain))).toBe(encoded);
      expect(decodeBase64(encoded)).toEqual(bytes(plain));
    }
  });

  it('uses the standard alphabet with + and /', () => {
    expect(encodeBase64(Uint8Array.of(0xfb, 0xff, 0xbf))).toBe('+/+/');
    expect(decodeBase64('+/+/')).toEqual(Uint8Array.of(0xfb, 0xff, 0xbf));
  });

  it('refuses text that is not canonical standard base64', () => {
    const bad = [
      'Zg', // missing padding
      'Zg=', // short padding
      'Zg===', // extra padding
      'Zh==', // non-zero pad bits
      'Zm9=', // non-zero pad bits
      'Z===', // one sextet cannot hold a byte
      '=Zg=',
      'Zg==Zg==', // padding in the middle
      'Zm9v\n', // line break
      ' Zm9v',
      'Zm 9v',
      '-_-_', // URL-safe alphabet
      'Zm9\u00e9',
    ];
    for (const text of bad) expect(() => decodeBase64(text), JSON.stringify(text)).toThrow(Base64Error);
  });
});
