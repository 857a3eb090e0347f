/** The local audit trail: list with filters, and verify the hash chain. */
import { z } from 'zod';
import { idSchema, instantSchema } from '../schemas/common.js';
import { defineChannel } from './channel.js';

export const auditEntryViewSchema = z.strictObject({
  seq: z.number().int(),
  epoch: z.number().int(),
  deviceId: z.string(),
  time: instantSchema,
  userId: z.string().nullable(),
  role: z.string().nullable(),
  action: z.string(),
  entityType: z.string().nullable(),
  entityId: z.string().nullable(),
  outcome: z.enum(['success', 'denied', 'error']),
  purpose: z.string(),
  legalBasis: z.string(),
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  hash: z.string(),
});
export type AuditEntryView = z.infer<typeof auditEntryViewSchema>;

export const auditList = defineChannel({
  name: 'audit.list',
  summary: 'Audit entries, newest first, filtered by user, action, entity, outcome and time.',
  input: z.strictObject({
    userId: idSchema.optional(),
    action: z.string().max(60).optional(),
    entityType: z.string().max(30).optional(),
    entityId: z.string().max(60).optional(),
    outcome: z.enum(['success', 'denied', 'error']).optional(),
    from: instantSchema.optional(),
    to: instantSchema.optional(),
    /** Return entries older than this cursor (from nextBefore; paging backwards). */
    before: z.number().int().min(1).optional(),
    limit: z.number().int().min(1).max(500).default(100),
  }),
  output: z.strictObject({ entries: z.array(auditEntryViewSchema), nextBefore: z.number().int().nullable() }),
  permission: 'audit.read',
  reauth: true,
  writes: false,
  audit: { action: 'audit.list', entityType: 'audit', purpose: 'audit', legalBasis: 'legal-obligation' },
});

export const auditVerify = defineChannel({
  name: 'audit.verify',
  summary: "Verifies this device's audit hash chain and reports the first bad sequence.",
  input: z.strictObject({}),
  output: z.strictObject({
    ok: z.boolean(),
    entries: z.number().int(),
    headSeq: z.number().int().nullable(),
    firstBadSeq: z.number().int().nullable(),
    reason: z.string().nullable(),
  }),
  permission: 'audit.verify',
  writes: false,
  audit: { action: 'audit.verify', entityType: 'audit', purpose: 'audit', legalBasis: 'legal-obligation' },
});
