/** First run: is this device set up, and create the clinic (once). */
import { z } from 'zod';
import { PUBLIC } from '../permissions.js';
import { idSchema, textSchema } from '../schemas/common.js';
import { passwordInputSchema, usernameSchema } from '../schemas/users.js';
import { defineChannel } from './channel.js';
import { enrollmentCodeInputSchema, syncServerUrlSchema } from './sync.js';

export const setupStatus = defineChannel({
  name: 'setup.status',
  summary: 'Whether a clinic exists on this device yet.',
  input: z.strictObject({}),
  output: z.strictObject({
    state: z.enum(['new', 'ready']),
    clinicName: z.string().nullable(),
  }),
  permission: PUBLIC,
  allowLocked: true,
  writes: false,
  audit: { action: 'setup.status', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
});

export const setupCreateClinic = defineChannel({
  name: 'setup.createClinic',
  summary: 'Creates the clinic, its first branch and its first Admin; refused once a clinic exists.',
  input: z.strictObject({
    clinicName: textSchema(120),
    branchName: textSchema(100),
    admin: z.strictObject({
      username: usernameSchema,
      displayName: textSchema(100),
      password: passwordInputSchema,
    }),
  }),
  output: z.strictObject({
    clinicId: idSchema,
    branchId: idSchema,
    adminUserId: idSchema,
    /** The recovery key, shown once: it opens the database when the passphrase or keystore is lost. */
    recoveryKey: z.string(),
  }),
  permission: PUBLIC,
  writes: true,
  audit: { action: 'setup.createClinic', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
});

export const setupJoinClinic = defineChannel({
  name: 'setup.joinClinic',
  summary:
    "Joins an existing clinic on a fresh device: creates the database, enrolls with the clinic's sync server and pulls everything; refused once a clinic exists.",
  input: z.strictObject({ serverUrl: syncServerUrlSchema, enrollmentCode: enrollmentCodeInputSchema }),
  output: z.strictObject({
    clinicId: idSchema,
    serverClinicId: z.string(),
    deviceId: z.string(),
    /** Changes pulled from the server and applied here. */
    pulled: z.number().int().min(0),
    applied: z.number().int().min(0),
    /** The recovery key, shown once: it opens the database when the passphrase or keystore is lost. */
    recoveryKey: z.string(),
  }),
  permission: PUBLIC,
  writes: true,
  audit: { action: 'setup.joinClinic', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
});
