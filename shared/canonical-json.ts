/**
 * Canonical JSON after RFC 8785 (JSON Canonicalization Scheme), restricted to the values the
 * audit chain stores: null, booleans, strings, safe integers, arrays and plain objects.
 *
 * Why our own: the `canonicalize` package needs Node 22 and we run on Node 20. For the subset
 * above RFC 8785 reduces to: object keys sorted by UTF-16 code units, no whitespace, strings
 * serialised as ECMAScript JSON.stringify does (RFC 8785 section 3.2.2.2 adopts exactly that),
 * integers in their shortest decimal form. Floats are refused rather than canonicalised, because
 * the audit chain must never depend on float formatting (the issue forbids them in entries).
 */

/** A value canonical JSON accepts. */
export type CanonicalValue =
  null | boolean | string | number | readonly CanonicalValue[] | { readonly [key: string]: CanonicalValue | undefined };

/** Thrown for a value outside the canonicalisable subset. */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
}

/** Serialises a value to its RFC 8785 canonical text. Object members that are `undefined` are omitted. */
export function canonicalJson(value: CanonicalValue): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw new CanonicalJsonError('only safe integers are allowed in canonical JSON');
      }
      // -0 must serialise as 0 (RFC 8785 section 3.2.2.3); String(-0) already gives "0".
      return String(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((item: CanonicalValue) => canonicalJson(item)).join(',')}]`;
      }
      const record = value as { readonly [key: string]: CanonicalValue | undefined };
      const proto: unknown = Object.getPrototypeOf(record);
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalJsonError('only plain objects are allowed in canonical JSON');
      }
      // Default string sort compares UTF-16 code units, which is what RFC 8785 section 3.2.3 asks.
      const keys = Object.keys(record).sort();
      const members: string[] = [];
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new CanonicalJsonError(`type ${typeof value} is not allowed in canonical JSON`);
  }
}
