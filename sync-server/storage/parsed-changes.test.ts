import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../shared/canonical-json.js';
import { canonicalChangeJson, canonicalFields, changeContentHash } from './change-append.js';
import { makeBatch, makeChange } from '../../test/support/sync-server/conformance-fixtures.js';
import { parseChangeBatch, parsedChangeSchema } from './parsed-changes.js';
import { InvalidInputError } from './errors.js';
import type { ChangeInput } from './records.js';

const DEVICE = 'device-parsed';

/** Changes as the push route's body schema leaves them. */
function routeParsed(txId: string, count: number): ChangeInput[] {
  return makeBatch(DEVICE, txId, count).changes.map((change) => parsedChangeSchema.parse(change));
}

describe('parseChangeBatch', () => {
  it('accepts a batch of route-parsed changes as the batch schema would, in a copied array', () => {
    const changes = routeParsed('tx-1', 3);
    const batch = parseChangeBatch({ deviceId: DEVICE, txId: 'tx-1', changes });
    expect(batch).toEqual({ deviceId: DEVICE, txId: 'tx-1', changes });
    expect(batch.changes).not.toBe(changes);
  });

  it('freezes route-parsed changes so they cannot differ from what was validated', () => {
    const [change] = routeParsed('tx-2', 1);
    expect(Object.isFrozen(change)).toBe(true);
    expect(Object.isFrozen(change!.fields)).toBe(true);
    expect(() => {
      (change as { op: string }).op = 'drop';
    }).toThrow(TypeError);
  });

  it('still refuses a parsed change of another device or transaction, or a repeated id', () => {
    const changes = routeParsed('tx-3', 2);
    expect(() => parseChangeBatch({ deviceId: 'device-other', txId: 'tx-3', changes })).toThrow(InvalidInputError);
    expect(() => parseChangeBatch({ deviceId: DEVICE, txId: 'tx-other', changes })).toThrow(InvalidInputError);
    expect(() => parseChangeBatch({ deviceId: DEVICE, txId: 'tx-3', changes: [changes[0]!, changes[0]!] })).toThrow(
      InvalidInputError,
    );
    expect(() => parseChangeBatch({ deviceId: DEVICE, txId: 'tx-3', changes: [] })).toThrow(InvalidInputError);
  });

  it('parses changes it did not see parsed, refusing an invalid one as before', () => {
    const plain = makeBatch(DEVICE, 'tx-4', 2);
    expect(parseChangeBatch(plain).changes).toEqual(plain.changes);
    const invalid = { ...plain, changes: [makeChange(DEVICE, 'tx-4', 1, { hlc: 'not a clock' })] };
    expect(() => parseChangeBatch(invalid)).toThrow(InvalidInputError);
    // A copy of a parsed change is not the parsed object: it is parsed in full.
    const copied = { ...routeParsed('tx-4', 1)[0]!, op: 'explode' } as unknown as ChangeInput;
    expect(() => parseChangeBatch({ deviceId: DEVICE, txId: 'tx-4', changes: [copied] })).toThrow(InvalidInputError);
  });

  it('refuses a batch with an extra key even when its changes were parsed', () => {
    const changes = routeParsed('tx-5', 1);
    const extra = { deviceId: DEVICE, txId: 'tx-5', changes, note: 'x' } as unknown as Parameters<
      typeof parseChangeBatch
    >[0];
    expect(() => parseChangeBatch(extra)).toThrow(InvalidInputError);
  });
});

describe('change content hash', () => {
  it('composes exactly the canonical JSON of the whole change', () => {
    const changes = [
      makeChange(DEVICE, 'tx-h', 1),
      makeChange(DEVICE, 'tx-h', 2, { fields: { é: 'ünïcode "quoted" \u2028', z: -0, a: null } }),
      makeChange(DEVICE, 'tx-h', 3, { fields: {}, op: 'delete', schemaVersion: 12 }),
    ];
    for (const change of changes) {
      expect(canonicalChangeJson(change, canonicalFields(change))).toBe(canonicalJson(change));
    }
  });

  it('gives the same hash whether or not the canonical fields are passed in', () => {
    const change = makeChange(DEVICE, 'tx-h', 4);
    expect(changeContentHash(change, canonicalFields(change))).toBe(changeContentHash(change));
    expect(changeContentHash(change)).toMatch(/^[0-9a-f]{64}$/);
  });
});
