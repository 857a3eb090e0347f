/** The password policy of shared/password-policy.ts, in one sentence for form hints. */
import { PASSWORD_MIN_LENGTH } from '../../../shared/password-policy.js';

export const PASSWORD_HINT = `At least ${PASSWORD_MIN_LENGTH} characters. A few unrelated words work well; common passwords and ones containing the username are refused.`;
