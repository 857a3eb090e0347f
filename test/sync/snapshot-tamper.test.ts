import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatEd25519VerifierKey } from '../../shared/merkle/signed-note.js';
import type { ChangeRecord } from '../../shared/sync/change.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import { SnapshotMerge, SnapshotRefusedError } from '../../shared/sync/snapshot.js';
import { type BuiltSnapshot, packSnapshot } from '../../sync-server/snapshot/snapshot-build.js';
import { nodeSha256 } from '../../main/core/platform/node-hashing.js';
import { fetchVerifiedSnapshot } from '../../main/core/sync/snapshot-fetch.js';
import { type FetchLike, SyncRequestError } from '../../main/core/sync/sync-http.js';

const SERVER = 'http://127.0.0.1:1';
const CLINIC = '3f8c2a52-6f1e-4b7a-9d3c-1a2b3c4d5e6f';
const DEVICE = '01JDEV1000000000000000000A';
const USER = '01JVSER0000000000000000000';

function keyPair() {
  const pair = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
  return {
    verifierKey: formatEd25519VerifierKey(nodeSha256, 'chairside-sync', raw),
    sign: (message: Uint8Array) => new Uint8Array(sign(null, message, pair.privateKey)),
  };
}
const SERVER_KEY = keyPair();

/** A snapshot of a branch and five patients, two patients a chunk (four chunks). */
function builtSnapshot(signWith = SERVER_KEY.sign, clinicId = CLINIC): BuiltSnapshot {
  const merge = new SnapshotMerge();
  const change = (seq: number, entity: ChangeRecord['entity'], rowId: string, fields: ChangeRecord['fields']) =>
    merge.add(
      {
        changeId: `01JCHANGE${String(seq).padStart(17, '0')}`,
        txId: `01JCHANGE${String(seq).padStart(17, '0')}`,
        deviceId: DEVICE,
        userId: USER,
        entity,
        rowId,
        op: 'insert',
        fields,
        hlc: encodeHlc({ wallMs: 1_000 + seq, counter: 0, deviceId: DEVICE }),
        schemaVersion: 1,
      },
      seq,
    );
  change(1, 'branch', '01JBRANCH10000000000000000', { name: 'MG Road', created_at: 1 });
  for (let i = 0; i < 5; i++) {
    change(2 + i, 'patient', `01JPAT${i}00000000000000000000`, {
      patient_number: `P00000${i}`,
      branch_id: '01JBRANCH10000000000000000',
      first_name: `Asha${i}`,
      last_name: 'Rao',
      date_of_birth: null,
      sex: null,
      phone: null,
      email: null,
      address: null,
      archived_at: null,
      archive_reason: null,
      merged_into: null,
      created_at: 1,
      created_by: USER,
    });
  }
  return packSnapshot(merge, { clinicId, sign: signWith, now: 5_000, chunkRows: 2 });
}

/** A server answering the snapshot routes from `built`, each chunk's bytes passed through `chunkBytes`. */
function serving(
  built: BuiltSnapshot,
  chunkBytes: (index: number, chunks: readonly Buffer[]) => Buffer | null = (index, chunks) => chunks[index]!,
): FetchLike {
  return async (url) => {
    const { pathname, searchParams } = new URL(url);
    if (pathname === '/v1/snapshot') return Response.json(built.signed);
    const bytes = chunkBytes(Number(searchParams.get('index')), built.chunks);
    if (!bytes) return Response.json({ error: { code: 'NOT_FOUND', message: 'gone' } }, { status: 404 });
    return new Response(new Uint8Array(bytes), { headers: { 'content-type': 'application/json' } });
  };
}

function fetchFrom(fetchFn: FetchLike, verifierKey = SERVER_KEY.verifierKey) {
  return fetchVerifiedSnapshot({ fetch: fetchFn, serverUrl: SERVER, token: 't', serverClinicId: CLINIC, verifierKey });
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const failure = await promise.then(
    () => null,
    (error: unknown) => error,
  );
  if (failure instanceof SnapshotRefusedError) return failure.reason;
  if (failure instanceof SyncRequestError) return failure.code;
  throw new Error(`expected a refusal, got ${String(failure)}`);
}

describe('fetching a snapshot', () => {
  it('accepts an intact snapshot: every chunk, in order, with its rows', async () => {
    const built = builtSnapshot();
    const snapshot = await fetchFrom(serving(built));
    expect(snapshot.manifest.chunks).toHaveLength(4);
    expect(snapshot.chunks.map((chunk) => [chunk.entity, chunk.rows.length])).toEqual([
      ['branch', 1],
      ['patient', 2],
      ['patient', 2],
      ['patient', 1],
    ]);
    expect(snapshot.manifest.cursor).toBe(6);
  });

  it('refuses a snapshot whose chunk the server no longer serves (truncated)', async () => {
    const built = builtSnapshot();
    expect(await refusal(fetchFrom(serving(built, (index, chunks) => (index === 3 ? null : chunks[index]!))))).toBe(
      'NOT_FOUND',
    );
  });

  it('refuses a chunk cut short', async () => {
    const built = builtSnapshot();
    const cut = (index: number, chunks: readonly Buffer[]) =>
      index === 1 ? chunks[1]!.subarray(0, chunks[1]!.length - 10) : chunks[index]!;
    expect(await refusal(fetchFrom(serving(built, cut)))).toBe('chunk-hash');
  });

  it('refuses chunks served in another order', async () => {
    const built = builtSnapshot();
    const swapped = (index: number, chunks: readonly Buffer[]) => chunks[index === 1 ? 2 : index === 2 ? 1 : index]!;
    expect(await refusal(fetchFrom(serving(built, swapped)))).toBe('chunk-hash');
  });

  it('refuses an altered chunk', async () => {
    const built = builtSnapshot();
    const altered = (index: number, chunks: readonly Buffer[]) =>
      index === 2 ? Buffer.from(chunks[2]!.toString('utf8').replace('Asha2', 'Esha2'), 'utf8') : chunks[index]!;
    expect(await refusal(fetchFrom(serving(built, altered)))).toBe('chunk-hash');
  });

  it('refuses a manifest rewritten to match an altered chunk (the signature no longer holds)', async () => {
    const built = builtSnapshot();
    const forged = builtSnapshot(SERVER_KEY.sign);
    // The forger's own snapshot under the genuine signature of another manifest.
    const mixed: BuiltSnapshot = { ...forged, signed: { ...forged.signed, signature: built.signed.signature } };
    expect(await refusal(fetchFrom(serving(mixed)))).toBe('signature');
  });

  it('refuses a snapshot signed by a key other than the pinned one', async () => {
    const built = builtSnapshot(keyPair().sign);
    expect(await refusal(fetchFrom(serving(built)))).toBe('signature');
  });

  it("refuses another clinic's snapshot, even signed by the pinned key", async () => {
    const built = builtSnapshot(SERVER_KEY.sign, '0f8c2a52-6f1e-4b7a-9d3c-1a2b3c4d5e6f');
    expect(await refusal(fetchFrom(serving(built)))).toBe('other-clinic');
  });
});
