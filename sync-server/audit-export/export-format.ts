/**
 * The file format of a clinic's consolidated audit log export (docs/sync-protocol.md, "Audit
 * export and offline verification"): JSON Lines, so a log of hundreds of thousands of
 * entries is written and verified as a stream.
 *
 * - Line 1, the header: format tag, clinic id, checkpoint origin, the checkpoint verifier key,
 *   the time of export, the latest signed checkpoint (size, root, note) and the entry count.
 * - Then one line per accepted entry in leaf order: leaf index, device, epoch, sequence, the
 *   canonical body exactly as hashed, previous hash, hash, and the server's receipt time.
 */
import { z } from 'zod';

/** The format tag of the header line. */
export const AUDIT_EXPORT_FORMAT = 'chairside-audit-export/v1';

const countSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const hexHashSchema = z.string().regex(/^[0-9a-f]{64}$/);

/** The first line of an export. */
export const exportHeaderSchema = z.strictObject({
  format: z.literal(AUDIT_EXPORT_FORMAT),
  clinicId: z.string().min(1).max(64),
  origin: z.string().min(1).max(200),
  verifierKey: z.string().min(1).max(300),
  exportedAt: countSchema,
  checkpoint: z.strictObject({
    size: countSchema,
    rootHash: z.string().min(1).max(100),
    note: z
      .string()
      .min(1)
      .max(128 * 1024),
  }),
  entries: countSchema,
});
export type ExportHeader = z.infer<typeof exportHeaderSchema>;

/** One accepted entry of the clinic log. */
export const exportEntrySchema = z.strictObject({
  leafIndex: countSchema,
  deviceId: z.string().min(1).max(64),
  epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  body: z
    .string()
    .min(2)
    .max(16 * 1024),
  prevHash: hexHashSchema,
  hash: hexHashSchema,
  receivedAt: countSchema,
});
export type ExportEntry = z.infer<typeof exportEntrySchema>;
