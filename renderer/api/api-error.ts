/** Errors as the renderer sees them: the API's `{code, message}`, plus the two a transport adds. */
import type { ApiErrorBody, ApiErrorCode } from '../../shared/api/errors.js';

/**
 * Every code a call can fail with: the API's codes, `UNREACHABLE` when the request did not get
 * through (the host stopped), and `BAD_RESPONSE` when the answer was not the API's envelope.
 */
export type ClientErrorCode = ApiErrorCode | 'UNREACHABLE' | 'BAD_RESPONSE';

/** A failed call. `message` is plain language and safe to show as is (never patient data). */
export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly code: ClientErrorCode,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** The error of an API envelope. */
  static fromBody(body: ApiErrorBody): ApiError {
    return new ApiError(body.code, body.message, body.retryAfterMs);
  }
}

/** Codes after which the session is gone for good: the user signs in again. */
export const SESSION_GONE_CODES: ReadonlySet<ClientErrorCode> = new Set([
  'UNAUTHENTICATED',
  'SESSION_EXPIRED',
  // Over HTTP, a page that lost its CSRF token (a reload) cannot act as its session any more.
  'CSRF_REJECTED',
]);

/**
 * Answers to a password check (unlock, re-authentication) after which the session cannot go on:
 * the account was locked or disabled (main then ends its sessions), or the session is gone.
 */
export const PASSWORD_CHECK_ENDS_SESSION: ReadonlySet<ClientErrorCode> = new Set([
  'ACCOUNT_LOCKED',
  'ACCOUNT_DISABLED',
  ...SESSION_GONE_CODES,
]);

/** What to show for any thrown value: the API's message, or a generic sentence. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'RATE_LIMITED' || error.code === 'ACCOUNT_LOCKED') {
      return withRetryHint(error.message, error.retryAfterMs);
    }
    return error.message;
  }
  return 'Something went wrong; please try again.';
}

function withRetryHint(message: string, retryAfterMs: number | undefined): string {
  if (retryAfterMs === undefined || retryAfterMs <= 0) return message;
  const seconds = Math.ceil(retryAfterMs / 1000);
  if (seconds < 60) return `${message} Try again in ${seconds} seconds.`;
  const minutes = Math.ceil(seconds / 60);
  return `${message} Try again in ${minutes} ${minutes === 1 ? 'minute' : 'minutes'}.`;
}
