/**
 * The consolidated audit log: a device pushes segments of its own hash chain with a signed head;
 * the server keeps every clinic's entries as a Merkle log and serves its signed checkpoint
 * (C2SP tlog-checkpoint) and RFC 9162 inclusion and consistency proofs.
 */
import { z } from 'zod';
import { canonicalJson } from '../../canonical-json.js';
import {
  MAX_AUDIT_ENTRIES_PER_BATCH,
  MAX_CHECKPOINT_NOTE_LENGTH,
  auditChainHeadSchema,
  auditEntryInputSchema,
  base64BytesSchema,
  countSchema,
  deviceIdSchema,
  queryCountSchema,
} from './records.js';
import { defineSyncRoute } from './route.js';

/** The domain tag of a signed audit chain head. */
export const AUDIT_HEAD_DOMAIN = 'chairside/audit-head/v1\n';

/** The text a device signs (UTF-8) for the head of a pushed segment: the domain tag, then canonical JSON. */
export function auditHeadText(deviceId: string, epoch: number, seq: number, head: string): string {
  return AUDIT_HEAD_DOMAIN + canonicalJson({ deviceId, epoch, head, seq });
}

/** A Merkle hash (32 bytes) as base64 on the wire. */
const base64HashSchema = z.string().min(1).max(100);

/** A signed tree head of the clinic's Merkle log. */
export const checkpointAnswerSchema = z.strictObject({
  size: countSchema,
  rootHash: base64HashSchema,
  /** The signed note, exactly as published: the authority; `size` and `rootHash` repeat it. */
  note: z.string().min(1).max(MAX_CHECKPOINT_NOTE_LENGTH),
});
export type CheckpointAnswer = z.infer<typeof checkpointAnswerSchema>;

/** Proof hashes, leaf to root: at most one per level of a tree of 2^64 leaves, and then some. */
const proofSchema = z.array(base64HashSchema).max(128);

export const auditPush = defineSyncRoute({
  name: 'audit.push',
  method: 'POST',
  path: '/v1/audit',
  summary: "Pushes a segment of the device's audit chain with its signed head.",
  auth: 'device-token',
  allowOutdated: true,
  body: z.strictObject({
    deviceId: deviceIdSchema,
    epoch: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    entries: z.array(auditEntryInputSchema).min(1).max(MAX_AUDIT_ENTRIES_PER_BATCH),
    /** Ed25519 over `auditHeadText` of the last entry. */
    signature: base64BytesSchema(64),
  }),
  answer: z.strictObject({
    /** Entries stored now. */
    appended: countSchema,
    /** Entries the server already held, identical (a re-push after a lost answer). */
    duplicates: countSchema,
    head: auditChainHeadSchema,
    leafIndexes: z.array(countSchema),
    checkpoint: checkpointAnswerSchema,
    clientOutdated: z.boolean(),
  }),
  limits: [{ name: 'MAX_AUDIT_ENTRIES_PER_BATCH', value: MAX_AUDIT_ENTRIES_PER_BATCH, what: 'entries per push' }],
});

export const auditCheckpoint = defineSyncRoute({
  name: 'audit.checkpoint',
  method: 'GET',
  path: '/v1/audit/checkpoint',
  summary: "The latest signed checkpoint (C2SP) of the clinic's audit log.",
  auth: 'device-token',
  answer: checkpointAnswerSchema,
});

export const auditInclusionProof = defineSyncRoute({
  name: 'audit.inclusionProof',
  method: 'GET',
  path: '/v1/audit/proof/inclusion',
  summary: 'An RFC 9162 inclusion proof of a leaf in the tree of a given size.',
  auth: 'device-token',
  query: z.strictObject({ index: queryCountSchema, size: queryCountSchema }),
  answer: z.strictObject({ index: countSchema, size: countSchema, leafHash: base64HashSchema, proof: proofSchema }),
});

export const auditConsistencyProof = defineSyncRoute({
  name: 'audit.consistencyProof',
  method: 'GET',
  path: '/v1/audit/proof/consistency',
  summary: 'An RFC 9162 consistency proof between two tree sizes.',
  auth: 'device-token',
  query: z.strictObject({ from: queryCountSchema, to: queryCountSchema }),
  answer: z.strictObject({ from: countSchema, to: countSchema, proof: proofSchema }),
});

/**
 * Why a device refused the server's log (main/core/sync/checkpoint-pin.ts): `rollback` is a
 * checkpoint smaller than the pinned one (entries the device saw are gone); the others are a log
 * that no longer extends the pinned one, or a checkpoint that does not open.
 */
export const LOG_REFUSAL_REASONS = [
  'rollback',
  'consistency',
  'root-changed',
  'inclusion',
  'own-leaf-changed',
  'signature',
  'other-log',
  'malformed-checkpoint',
  'bad-pinned-key',
  'answer-disagrees-with-note',
] as const;
export type LogRefusalReason = (typeof LOG_REFUSAL_REASONS)[number];

export const auditReportPinned = defineSyncRoute({
  name: 'audit.reportPinned',
  method: 'POST',
  path: '/v1/audit/pinned',
  summary:
    "Reports the highest checkpoint the device pinned, and its refusal of the server's log; the server records an inconsistent one as a security event.",
  auth: 'device-token',
  body: z.strictObject({
    /** The signed note of the highest checkpoint the device verified, exactly as served; null before its first. */
    pinned: z.string().min(1).max(MAX_CHECKPOINT_NOTE_LENGTH).nullable(),
    /** Why the device refused the log's latest checkpoint, or null when the log still extends the pin. */
    refusal: z.enum(LOG_REFUSAL_REASONS).nullable(),
    /** The size of the checkpoint the device refused, or null. */
    refusedSize: countSchema.nullable(),
  }),
  answer: z.strictObject({
    /** Leaves the server's log holds now. */
    logSize: countSchema,
    /** True when the pinned checkpoint is signed by the server and is a prefix of its log now. */
    consistent: z.boolean(),
    /** True when the server recorded the report as a security event. */
    recorded: z.boolean(),
  }),
});

/** The audit routes, in registration order. */
export const AUDIT_ROUTES = [
  auditPush,
  auditCheckpoint,
  auditInclusionProof,
  auditConsistencyProof,
  auditReportPinned,
] as const;
