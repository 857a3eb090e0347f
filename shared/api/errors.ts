/** The error envelope every transport returns: a stable code and a plain-language message. */
import { z } from 'zod';

/** Every error code a channel can return, with the HTTP status the browser host maps it to. */
export const apiErrorStatus = {
  VALIDATION_FAILED: 400,
  NOT_SET_UP: 409,
  ALREADY_SET_UP: 409,
  UNAUTHENTICATED: 401,
  SESSION_LOCKED: 401,
  SESSION_EXPIRED: 401,
  INVALID_CREDENTIALS: 401,
  ACCOUNT_LOCKED: 403,
  ACCOUNT_DISABLED: 403,
  DEVICE_REVOKED: 403,
  FORBIDDEN: 403,
  REAUTH_REQUIRED: 403,
  CSRF_REJECTED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PASSWORD_REJECTED: 400,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  /** The clinic's sync server did not answer, or not as one: a fault upstream, not in this app. */
  SYNC_UNREACHABLE: 502,
} as const;

export type ApiErrorCode = keyof typeof apiErrorStatus;
export const apiErrorCodeSchema = z.enum(Object.keys(apiErrorStatus) as [ApiErrorCode, ...ApiErrorCode[]]);

/** What a caller sees of a failure: no stack, no patient data. */
export const apiErrorBodySchema = z.strictObject({
  code: apiErrorCodeSchema,
  message: z.string(),
  retryAfterMs: z.number().int().optional(),
});
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>;

/** The HTTP error envelope: `{"error":{"code","message"}}`. */
export const apiErrorEnvelopeSchema = z.strictObject({ error: apiErrorBodySchema });
