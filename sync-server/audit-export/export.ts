/**
 * Exports one clinic's consolidated audit log to a file an auditor verifies offline
 * (`npm run server -- audit export --clinic ID --data-dir DIR --out FILE`; format in
 * export-format.ts). The export is cut at a signed checkpoint: the latest one, first signed and
 * stored when storage holds leaves no checkpoint covers yet, so every exported entry is under
 * the signature. Entries are read in pages and written as they come.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import type { ServerKeys } from '../auth/server-keys.js';
import { ClinicAuditLogs, clinicLogOrigin } from '../http/audit-log.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { type ClinicStore, MAX_PAGE_SIZE } from '../storage/storage.js';
import { AUDIT_EXPORT_FORMAT, type ExportEntry, type ExportHeader } from './export-format.js';

/** What an export wrote. */
export interface AuditExportSummary {
  readonly clinicId: string;
  readonly out: string;
  readonly entries: number;
  readonly size: number;
  readonly rootHash: string;
}

/**
 * Writes the clinic's log up to its latest signed checkpoint to `out`, which must not exist yet
 * (an export is evidence; it never overwrites another file).
 */
export async function exportClinicAuditLog(input: {
  readonly store: ClinicStore;
  readonly keys: ServerKeys;
  readonly out: string;
  readonly now: () => number;
}): Promise<AuditExportSummary> {
  const { store, keys } = input;
  const checkpoint = await new ClinicAuditLogs(nodeSha256, keys).checkpoint(store);
  const header: ExportHeader = {
    format: AUDIT_EXPORT_FORMAT,
    clinicId: store.clinicId,
    origin: clinicLogOrigin(store.clinicId),
    verifierKey: formatEd25519VerifierKey(nodeSha256, keys.checkpointKeyName, keys.checkpointPublicKey),
    exportedAt: input.now(),
    checkpoint: { size: checkpoint.size, rootHash: encodeBase64(checkpoint.rootHash), note: checkpoint.note },
    entries: checkpoint.size,
  };
  const fd = openSync(input.out, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(header)}\n`);
    let after = 0;
    while (after < checkpoint.size) {
      const page = await store.listAuditEntries({ after, limit: MAX_PAGE_SIZE });
      const lines: string[] = [];
      for (const entry of page.entries) {
        // Leaves appended after the checkpoint are not under its signature: they wait for the next export.
        if (entry.leafIndex >= checkpoint.size) break;
        const line: ExportEntry = {
          leafIndex: entry.leafIndex,
          deviceId: entry.deviceId,
          epoch: entry.epoch,
          seq: entry.seq,
          body: entry.body,
          prevHash: entry.prevHash,
          hash: entry.hash,
          receivedAt: entry.receivedAt,
        };
        lines.push(`${JSON.stringify(line)}\n`);
      }
      if (lines.length > 0) writeSync(fd, lines.join(''));
      if (page.entries.length === 0 || page.cursor <= after) break;
      after = page.cursor;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return {
    clinicId: store.clinicId,
    out: input.out,
    entries: checkpoint.size,
    size: checkpoint.size,
    rootHash: header.checkpoint.rootHash,
  };
}
