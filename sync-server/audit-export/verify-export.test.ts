import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { formatCheckpoint, signCheckpoint } from '../../shared/merkle/checkpoint.js';
import { MerkleLog } from '../../shared/merkle/log.js';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import { deriveServerKeys } from '../auth/server-keys.js';
import { clinicLogOrigin } from '../http/audit-log.js';
import { auditLeafHash } from '../storage/audit-append.js';
import { AuditChainBuilder } from '../../test/support/sync-server/conformance-fixtures.js';
import { nodeSha256 } from '../storage/node-crypto.js';
import { AUDIT_EXPORT_FORMAT, type ExportEntry } from './export-format.js';
import { verifyAuditExport } from './verify-export.js';

const keys = deriveServerKeys(randomBytes(32));
const verifierKey = formatEd25519VerifierKey(nodeSha256, keys.checkpointKeyName, keys.checkpointPublicKey);
const CLINIC = '6f1c0d7e-0000-4000-8000-000000000001';

/** An export of these entries (leaf indexes assigned in order), signed as the server would sign it. */
function exportOf(entries: ReadonlyArray<Omit<ExportEntry, 'leafIndex' | 'receivedAt'>>): string[] {
  const lines = entries.map((entry, leafIndex) => ({ ...entry, leafIndex, receivedAt: 1_760_000_100_000 + leafIndex }));
  const log = MerkleLog.fromLeafHashes(
    nodeSha256,
    lines.map((entry) => auditLeafHash(entry)),
  );
  const rootHash = log.root(log.size);
  const text = formatCheckpoint({ origin: clinicLogOrigin(CLINIC), size: log.size, rootHash });
  const note = signCheckpoint(text, keys.checkpointKeyName, keys.checkpointPublicKey, keys.signCheckpoint, nodeSha256);
  const header = {
    format: AUDIT_EXPORT_FORMAT,
    clinicId: CLINIC,
    origin: clinicLogOrigin(CLINIC),
    verifierKey,
    exportedAt: 1_760_000_200_000,
    checkpoint: { size: log.size, rootHash: encodeBase64(rootHash), note },
    entries: log.size,
  };
  return [header, ...lines].map((line) => JSON.stringify(line));
}

function chainOf(deviceId: string, epoch: number, count: number) {
  return new AuditChainBuilder(deviceId, epoch).next(count).map((entry) => ({ deviceId, epoch, ...entry }));
}

describe('verifyAuditExport', () => {
  it('accepts interleaved chains of two devices and two epochs, naming the counts', () => {
    const a = chainOf('DEVICEA', 1, 4);
    const a2 = chainOf('DEVICEA', 2, 2);
    const b = chainOf('DEVICEB', 1, 3);
    const lines = exportOf([a[0]!, b[0]!, a[1]!, a[2]!, b[1]!, a[3]!, b[2]!, a2[0]!, a2[1]!]);
    expect(verifyAuditExport(lines, verifierKey)).toMatchObject({ ok: true, entries: 9, chains: 3, devices: 2 });
  });

  it('accepts an empty log under its signed empty root', () => {
    expect(verifyAuditExport(exportOf([]), verifierKey)).toMatchObject({ ok: true, entries: 0 });
  });

  it('refuses a chain that does not start from its genesis, even when the server signed it', () => {
    const [, second, third] = chainOf('DEVICEA', 1, 3);
    expect(verifyAuditExport(exportOf([second!, third!]), verifierKey)).toMatchObject({
      ok: false,
      firstBad: { line: 2, deviceId: 'DEVICEA', seq: 2 },
    });
  });

  it('refuses a device going back to an older epoch', () => {
    const old = chainOf('DEVICEA', 1, 2);
    const next = chainOf('DEVICEA', 2, 1);
    expect(verifyAuditExport(exportOf([old[0]!, next[0]!, old[1]!]), verifierKey)).toMatchObject({
      ok: false,
      firstBad: { line: 4, epoch: 1, seq: 2 },
    });
  });

  it('refuses an entry filed under another device than its body names', () => {
    const [entry] = chainOf('DEVICEA', 1, 1);
    expect(verifyAuditExport(exportOf([{ ...entry!, deviceId: 'DEVICEB' }]), verifierKey)).toMatchObject({
      ok: false,
      reason: 'the body names another device, epoch or sequence',
    });
  });

  it('refuses an export cut short of the size its checkpoint signs', () => {
    const lines = exportOf(chainOf('DEVICEA', 1, 3));
    expect(verifyAuditExport(lines.slice(0, 3), verifierKey)).toMatchObject({
      ok: false,
      firstBad: { leafIndex: 2 },
    });
  });

  it('refuses a header whose entry count disagrees with the checkpoint', () => {
    const lines = exportOf(chainOf('DEVICEA', 1, 2));
    const header = JSON.parse(lines[0]!) as Record<string, unknown>;
    lines[0] = JSON.stringify({ ...header, entries: 1 });
    expect(verifyAuditExport(lines, verifierKey)).toMatchObject({ ok: false, firstBad: { line: 1 } });
  });

  it('uses the file’s own key without --key, and says so', () => {
    expect(verifyAuditExport(exportOf(chainOf('DEVICEA', 1, 1)))).toMatchObject({ ok: true, keySource: 'file' });
  });

  it('refuses a file that is not an export', () => {
    expect(verifyAuditExport(['{"hello":1}'], verifierKey)).toMatchObject({ ok: false, firstBad: { line: 1 } });
    expect(verifyAuditExport([], verifierKey)).toEqual({ ok: false, reason: 'the file is empty' });
  });
});
