import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
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
import { savedCheckpointNote } from './saved-checkpoint.js';
import { verifyAuditExport } from './verify-export.js';
import { runVerifyExport } from './verify-export-cli.js';

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

describe('verifyAuditExport since a saved checkpoint', () => {
  // Issue #11, finding 5: the export is what the server signs now; only an older checkpoint kept
  // outside the server shows what the log once held.
  const chain = chainOf('DEVICEA', 1, 5);
  const earlier = exportOf(chain.slice(0, 3));
  const full = exportOf(chain);
  const noteOf = (lines: string[]) => (JSON.parse(lines[0]!) as { checkpoint: { note: string } }).checkpoint.note;

  it('accepts an export that extends the saved checkpoint, naming its size', () => {
    expect(verifyAuditExport(full, verifierKey, noteOf(earlier))).toMatchObject({
      ok: true,
      entries: 5,
      sinceCheckpointSize: 3,
    });
    expect(verifyAuditExport(full, verifierKey)).not.toHaveProperty('sinceCheckpointSize');
  });

  it('refuses an export of a log cut back below the saved checkpoint, though the export itself verifies', () => {
    expect(verifyAuditExport(earlier, verifierKey)).toMatchObject({ ok: true });
    expect(verifyAuditExport(earlier, verifierKey, noteOf(full))).toEqual({
      ok: false,
      reason:
        "saved checkpoint covers 5 leaves but the export's signed checkpoint 3: entries the server once signed for were removed (truncated)",
    });
  });

  it('refuses an export whose first leaves differ from the saved checkpoint (a forked log)', () => {
    const forked = exportOf([...chain.slice(0, 2), ...chainOf('DEVICEB', 1, 3)]);
    expect(verifyAuditExport(forked, verifierKey, noteOf(earlier))).toEqual({
      ok: false,
      reason:
        "saved checkpoint of 3 leaves is not a prefix of the export's signed checkpoint of 5: the first 3 leaves were rewritten (forked)",
    });
  });

  it('refuses a saved checkpoint the verifier key did not sign', () => {
    const other = deriveServerKeys(randomBytes(32));
    const text = formatCheckpoint({ origin: clinicLogOrigin(CLINIC), size: 1, rootHash: randomBytes(32) });
    const forged = signCheckpoint(
      text,
      other.checkpointKeyName,
      other.checkpointPublicKey,
      other.signCheckpoint,
      nodeSha256,
    );
    expect(verifyAuditExport(full, verifierKey, forged)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^saved checkpoint: /),
    });
  });
});

describe('savedCheckpointNote', () => {
  const note = (JSON.parse(exportOf(chainOf('DEVICEA', 1, 2))[0]!) as { checkpoint: { note: string } }).checkpoint.note;

  it('reads the note from a served checkpoint, an export header line, or the note itself', () => {
    expect(savedCheckpointNote(JSON.stringify({ size: 2, rootHash: 'x', note }))).toBe(note);
    const exported = exportOf(chainOf('DEVICEA', 1, 2)).join('\n');
    expect(savedCheckpointNote(exported)).toBe(note);
    expect(savedCheckpointNote(note)).toBe(note);
  });
});

describe('the auditor’s command with --since-checkpoint', () => {
  const chain = chainOf('DEVICEA', 1, 4);
  const dir = mkdtempSync(join(tmpdir(), 'chairside-verify-since-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, lines: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };
  const longer = file('longer.jsonl', exportOf(chain));
  const shorter = file('shorter.jsonl', exportOf(chain.slice(0, 2)));

  it('exits 0 for an export that extends an earlier export, 1 for one cut below it', async () => {
    const extended = await runVerifyExport([longer, '--key', verifierKey, '--since-checkpoint', shorter]);
    expect(extended.exitCode).toBe(0);
    expect(JSON.parse(extended.output)).toMatchObject({ ok: true, sinceCheckpointSize: 2 });
    const cut = await runVerifyExport([shorter, '--key', verifierKey, '--since-checkpoint', longer]);
    expect(cut.exitCode).toBe(1);
    expect(JSON.parse(cut.output)).toMatchObject({ ok: false, reason: expect.stringContaining('(truncated)') });
  });

  it('exits 2 when the saved checkpoint cannot be read', async () => {
    const missing = await runVerifyExport([longer, '--since-checkpoint', join(dir, 'missing.json')]);
    expect(missing.exitCode).toBe(2);
  });
});
