/**
 * The sync server's one error envelope, `{"error":{"code","message"}}`, for refusals of the
 * routes, of the storage and of Fastify itself. Messages are fixed texts chosen here: never a
 * parser or storage message, which can quote the request (another clinic's ids, patient data).
 */
import type { FastifyReply } from 'fastify';

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

/** A refusal a route raises on purpose; the error handler turns it into the envelope. */
export class SyncHttpError extends Error {
  override readonly name = 'SyncHttpError';

  constructor(
    readonly code: SyncErrorCode,
    message: string,
    /** For RATE_LIMITED: how long to wait, in milliseconds. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  get status(): number {
    return syncErrorStatus[this.code];
  }
}

/** Sends the envelope for a code with the code's status. */
export function sendSyncError(
  reply: FastifyReply,
  code: SyncErrorCode,
  message: string,
  retryAfterMs?: number,
): FastifyReply {
  if (retryAfterMs !== undefined) {
    // Whole seconds, rounded up, so a client that obeys it is not refused again.
    reply.header('retry-after', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  }
  return reply.code(syncErrorStatus[code]).type('application/json; charset=utf-8').send({ error: { code, message } });
}

/** The code and fixed message of a Fastify error (parser, body limit, media type, routing). */
export function envelopeForFrameworkError(error: { code?: string; statusCode?: number }): {
  code: SyncErrorCode;
  message: string;
} {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json.' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'VALIDATION_FAILED', message: 'The request body is not valid JSON.' };
    default:
      break;
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return { code: 'VALIDATION_FAILED', message: 'The request is not valid.' };
  return { code: 'INTERNAL', message: 'Something went wrong.' };
}
