/**
 * The sync server's one error envelope, `{"error":{"code","message"}}`, for refusals of the
 * routes, of the storage and of Fastify itself. Messages are fixed texts chosen here: never a
 * parser or storage message, which can quote the request (another clinic's ids, patient data).
 */
import type { FastifyReply } from 'fastify';
import { type SyncErrorCode, syncErrorStatus } from '../../shared/sync/wire/errors.js';

// Declared once, with the envelope's schema, in shared/sync/wire/errors.ts.
export { type SyncErrorCode, syncErrorStatus };

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
