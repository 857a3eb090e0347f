/**
 * The sync server's one error envelope, `{"error":{"code","message"}}`, and every code it answers
 * with its HTTP status. Devices read the code to decide whether to retry (network, 5xx, 429) or
 * record a refusal; the message is a fixed text for people, never a parser or storage message.
 */
import { z } from 'zod';

/** Every error code the sync server answers, with its HTTP status. */
export const syncErrorStatus = {
  VALIDATION_FAILED: 400,
  PROTOCOL_UNSUPPORTED: 400,
  UNAUTHENTICATED: 401,
  ENROLLMENT_REFUSED: 403,
  DEVICE_REVOKED: 403,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  AUDIT_CHAIN_REJECTED: 409,
  AUDIT_SIGNATURE_INVALID: 422,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  CLIENT_OUTDATED: 426,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  NOT_READY: 503,
} as const;

/** A machine-readable error code of the sync server. */
export type SyncErrorCode = keyof typeof syncErrorStatus;

/**
 * The envelope of every failure. The code is read as any short text, not as the enum above: a
 * newer server may answer a code this device does not know, which it still records.
 */
export const syncErrorEnvelopeSchema = z.object({
  error: z.object({ code: z.string().max(64), message: z.string().max(1000).optional() }),
});
export type SyncErrorEnvelope = z.infer<typeof syncErrorEnvelopeSchema>;
