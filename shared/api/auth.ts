/** Sign-in, sign-out, lock and re-authentication. */
import { z } from 'zod';
import { PUBLIC } from '../permissions.js';
import { instantSchema } from '../schemas/common.js';
import { passwordInputSchema, sessionUserSchema } from '../schemas/users.js';
import { defineChannel } from './channel.js';

const sessionAudit = { entityType: 'session', purpose: 'security', legalBasis: 'security' } as const;

/** What a caller learns about its new or renewed session; the session token itself never appears here. */
const sessionGrantSchema = z.strictObject({
  user: sessionUserSchema,
  /** Sent back as `x-csrf-token` on every call over HTTP. */
  csrfToken: z.string(),
  expiresAt: instantSchema,
  inactivityTimeoutMs: z.number().int(),
  reauthValidUntil: instantSchema,
});

export const authSignIn = defineChannel({
  name: 'auth.signIn',
  summary: 'Signs a user in with username and password and starts a new session.',
  input: z.strictObject({ username: z.string().trim().toLowerCase().min(1).max(40), password: passwordInputSchema }),
  output: sessionGrantSchema,
  permission: PUBLIC,
  writes: true,
  audit: { action: 'auth.signIn', ...sessionAudit },
});

export const authSignOut = defineChannel({
  name: 'auth.signOut',
  summary: 'Ends the current session.',
  input: z.strictObject({}),
  output: z.strictObject({ signedOut: z.literal(true) }),
  permission: 'session.self',
  allowLocked: true,
  writes: true,
  audit: { action: 'auth.signOut', ...sessionAudit },
});

export const authSession = defineChannel({
  name: 'auth.session',
  summary: 'Who is signed in, and whether the session is locked.',
  input: z.strictObject({}),
  output: z.strictObject({
    user: sessionUserSchema,
    state: z.enum(['active', 'locked']),
    expiresAt: instantSchema,
    reauthValidUntil: instantSchema.nullable(),
  }),
  permission: 'session.self',
  allowLocked: true,
  writes: false,
  audit: { action: 'auth.session', ...sessionAudit },
});

export const authReauthenticate = defineChannel({
  name: 'auth.reauthenticate',
  summary: 'Confirms the password again before a sensitive operation; renews the session id.',
  input: z.strictObject({ password: passwordInputSchema }),
  output: sessionGrantSchema,
  permission: 'session.self',
  writes: true,
  audit: { action: 'auth.reauthenticate', ...sessionAudit },
});

export const authUnlock = defineChannel({
  name: 'auth.unlock',
  summary: 'Unlocks a session locked by inactivity with the same user password; renews the session id.',
  input: z.strictObject({ password: passwordInputSchema }),
  output: sessionGrantSchema,
  permission: 'session.self',
  allowLocked: true,
  writes: true,
  audit: { action: 'auth.unlock', ...sessionAudit },
});

export const authLock = defineChannel({
  name: 'auth.lock',
  summary: 'Locks the session now (stepping away from a shared front-desk PC).',
  input: z.strictObject({}),
  output: z.strictObject({ locked: z.literal(true) }),
  permission: 'session.self',
  allowLocked: true,
  writes: true,
  audit: { action: 'auth.lock', ...sessionAudit },
});

export const authChangePassword = defineChannel({
  name: 'auth.changePassword',
  summary: "Changes the caller's own password given the current one; ends the user's other sessions.",
  input: z.strictObject({ currentPassword: passwordInputSchema, newPassword: passwordInputSchema }),
  output: z.strictObject({ changed: z.literal(true), otherSessionsEnded: z.number().int() }),
  permission: 'session.self',
  writes: true,
  audit: { action: 'auth.changePassword', entityType: 'user', purpose: 'security', legalBasis: 'security' },
});
