/**
 * The one error envelope of the browser host, `{"error":{"code","message"}}`, for failures of the
 * core and of HTTP alike. Messages are fixed texts: never a parser message, which can quote the
 * request body (patient data), and never a stack.
 */
import type { FastifyReply } from 'fastify';
import { type ApiErrorBody, type ApiErrorCode, apiErrorStatus } from '../../shared/api/errors.js';

/** Sends a core error with the status the shared table maps its code to. */
export function sendApiError(reply: FastifyReply, error: ApiErrorBody): FastifyReply {
  return sendEnvelope(reply, apiErrorStatus[error.code], error);
}

/** Sends an error the host raises itself, with the status of its code. */
export function sendHostError(reply: FastifyReply, code: ApiErrorCode, message: string): FastifyReply {
  return sendEnvelope(reply, apiErrorStatus[code], { code, message });
}

/** Sends the envelope with an explicit status (413 and 415 have no code of their own). */
export function sendEnvelope(reply: FastifyReply, status: number, error: ApiErrorBody): FastifyReply {
  const body: ApiErrorBody = { code: error.code, message: error.message };
  if (error.retryAfterMs !== undefined) {
    body.retryAfterMs = error.retryAfterMs;
    // Retry-After counts whole seconds; round up so a client that obeys it is not refused again.
    reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1000))));
  }
  return reply.code(status).type('application/json; charset=utf-8').send({ error: body });
}

/** What a Fastify error (parser, body limit, media type) turns into: status and envelope. */
export function envelopeForFrameworkError(error: { code?: string; statusCode?: number }): {
  status: number;
  body: ApiErrorBody;
} {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { code: 'VALIDATION_FAILED', message: 'The request body is too large.' } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { code: 'VALIDATION_FAILED', message: 'Send the input as application/json.' } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { code: 'VALIDATION_FAILED', message: 'The request body is not valid JSON.' } };
    default:
      break;
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return { status, body: { code: 'VALIDATION_FAILED', message: 'The request is not valid.' } };
  }
  return { status: 500, body: { code: 'INTERNAL', message: 'Something went wrong.' } };
}
