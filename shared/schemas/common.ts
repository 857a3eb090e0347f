/** Field schemas used across the API. */
import { z } from 'zod';

/** Replicated rows have ULID ids (26 Crockford base32 characters, time-ordered). */
export const idSchema = z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an id');

/** Calendar dates are ISO `YYYY-MM-DD` strings; instants are integer milliseconds since the epoch (UTC). */
export const isoDateSchema = z.iso.date();
export const instantSchema = z.number().int().min(0);

/** Trimmed, non-empty, bounded text: names and labels. */
export function textSchema(max: number) {
  return z.string().trim().min(1).max(max);
}

/** Optional free text that may be cleared with null. */
export function optionalTextSchema(max: number) {
  return z.string().trim().max(max).nullable().optional();
}
