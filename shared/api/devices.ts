/** This clinic's devices: make an enrollment code for another device (docs/sync-protocol.md, "Joining a clinic (built)"). */
import { z } from 'zod';
import { instantSchema } from '../schemas/common.js';
import { defineChannel } from './channel.js';

export const devicesCreateEnrollmentCode = defineChannel({
  name: 'devices.createEnrollmentCode',
  summary:
    "Asks the clinic's sync server for a one-time, expiring enrollment code for another device of this clinic (setup.joinClinic redeems it).",
  input: z.strictObject({}),
  output: z.strictObject({
    /** Shown once to the Admin; never stored on this device or in the audit trail. */
    code: z.string().min(1).max(100),
    expiresAt: instantSchema,
  }),
  permission: 'users.manage',
  reauth: true,
  writes: true,
  audit: {
    action: 'devices.createEnrollmentCode',
    entityType: 'clinic',
    purpose: 'administration',
    legalBasis: 'contract',
  },
});
