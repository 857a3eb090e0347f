/** Errors a handler or the pipeline raises on purpose; anything else becomes INTERNAL. */
import type { ApiErrorCode } from '../../../shared/api/errors.js';

export class ApiError extends Error {
  override readonly name = 'ApiError';

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly options: {
      /** Commit what the handler wrote before failing (failed sign-in counters), audited as a failure. */
      readonly keepChanges?: boolean;
      readonly retryAfterMs?: number;
      /** Extra audit details (never patient data). */
      readonly auditDetails?: Readonly<Record<string, string | number | boolean | null>>;
      /** The user the failure concerns, for the audit entry (a failed sign-in's account). */
      readonly subjectUserId?: string;
    } = {},
  ) {
    super(message);
  }
}

/** Codes that mean "you may not", recorded as outcome=denied rather than error. */
export const DENIAL_CODES: ReadonlySet<ApiErrorCode> = new Set<ApiErrorCode>([
  'UNAUTHENTICATED',
  'SESSION_LOCKED',
  'SESSION_EXPIRED',
  'INVALID_CREDENTIALS',
  'ACCOUNT_LOCKED',
  'ACCOUNT_DISABLED',
  'DEVICE_REVOKED',
  'FORBIDDEN',
  'REAUTH_REQUIRED',
  'CSRF_REJECTED',
  'RATE_LIMITED',
]);
