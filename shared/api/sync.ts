/**
 * Replication with the clinic's sync server (docs/sync-protocol.md, "Device sync engine (built)"):
 * connect an existing clinic to a server with an operator's enrollment code, see the state of
 * sync, and run one push/pull round now.
 */
import { z } from 'zod';
import { instantSchema } from '../schemas/common.js';
import { defineChannel } from './channel.js';

// scheme, host (with an optional port), path; no credentials, query or fragment.
const SERVER_URL = /^(https?):\/\/([^/?#@\s]+)(\/[^?#@\s]*)?$/i;
const LOOPBACK_HOST = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])(:\d{1,5})?$/i;

/**
 * The sync server's base URL: https, or plain http only for a loopback host (a LAN relay or a
 * server on this PC). No credentials, query or fragment. Normalised to lower-case scheme and
 * host without a trailing slash.
 */
export const syncServerUrlSchema = z
  .string()
  .trim()
  .max(2048)
  .pipe(z.url({ protocol: /^https?$/ }))
  .refine((text) => {
    const match = SERVER_URL.exec(text);
    if (!match) return false;
    return match[1]!.toLowerCase() === 'https' || LOOPBACK_HOST.test(match[2]!);
  }, 'must be an https URL (http only on a loopback host), without credentials, query or fragment')
  .transform((text) => {
    const match = SERVER_URL.exec(text)!;
    return `${match[1]!.toLowerCase()}://${match[2]!.toLowerCase()}${(match[3] ?? '').replace(/\/+$/, '')}`;
  });

/** An enrollment code as the operator printed it (checked by the server). */
export const enrollmentCodeInputSchema = z.string().trim().min(1).max(100);

/** The counts of one round. */
export const syncRoundSchema = z.strictObject({
  /** False when the clinic is not connected to a server: nothing was attempted. */
  connected: z.boolean(),
  ok: z.boolean(),
  pushed: z.number().int().min(0),
  refused: z.number().int().min(0),
  pulled: z.number().int().min(0),
  applied: z.number().int().min(0),
  conflicts: z.number().int().min(0),
  /** A short, fixed description of why the round stopped (never patient data); null when it completed. */
  error: z.string().nullable(),
});
export type SyncRound = z.infer<typeof syncRoundSchema>;

export const syncConnect = defineChannel({
  name: 'sync.connect',
  summary:
    'Connects this clinic to a sync server with an enrollment code: registers this device and queues every existing row for upload.',
  input: z.strictObject({ serverUrl: syncServerUrlSchema, enrollmentCode: enrollmentCodeInputSchema }),
  output: z.strictObject({ serverClinicId: z.string(), deviceId: z.string(), queued: z.number().int().min(0) }),
  permission: 'users.manage',
  reauth: true,
  writes: true,
  audit: { action: 'sync.connect', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
});

export const syncStatus = defineChannel({
  name: 'sync.status',
  summary: 'Whether this clinic syncs, when it last did, and how many changes are pending, refused or in conflict.',
  input: z.strictObject({}),
  output: z.strictObject({
    connected: z.boolean(),
    online: z.boolean(),
    serverUrl: z.string().nullable(),
    lastSyncAt: instantSchema.nullable(),
    lastAttemptAt: instantSchema.nullable(),
    lastError: z.string().nullable(),
    pending: z.number().int().min(0),
    refused: z.number().int().min(0),
    conflicts: z.number().int().min(0),
  }),
  permission: 'session.self',
  writes: false,
  audit: { action: 'sync.status', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
});

export const syncNow = defineChannel({
  name: 'sync.now',
  summary: 'Runs one push and pull round now and returns its counts (nothing is attempted when not connected).',
  input: z.strictObject({}),
  output: syncRoundSchema,
  permission: 'patients.write',
  writes: false,
  audit: { action: 'sync.now', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
});
