import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  REPLICATED_ENTITIES,
  SYNC_SCHEMA_VERSION,
  type ChangeRecord,
  type EntityName,
  changeRecordSchema,
} from '../../shared/sync/change.js';
import { encodeHlc } from '../../shared/sync/hlc.js';
import { changeInputSchema } from '../../sync-server/storage/records.js';

// Devices build changes with the shared schema; the server parses them with its own wire schema.
// Every change the shared schema accepts must pass the server's.
const ulid = fc.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/);
const value = fc.oneof(fc.string({ maxLength: 40 }), fc.maxSafeInteger(), fc.boolean(), fc.constant(null));
const mutable = (Object.keys(REPLICATED_ENTITIES) as EntityName[]).filter(
  (name) => REPLICATED_ENTITIES[name].fields.length > 0,
);

const change: fc.Arbitrary<ChangeRecord> = fc
  .record({
    changeId: ulid,
    txId: ulid,
    deviceId: ulid,
    userId: ulid,
    rowId: ulid,
    entity: fc.constantFrom(...mutable),
    op: fc.constantFrom('insert', 'update', 'delete'),
    wallMs: fc.integer({ min: 0, max: 2 ** 40 }),
    counter: fc.integer({ min: 0, max: 0xffff }),
    values: fc.array(value, { minLength: 1, maxLength: 8 }),
  })
  .map(({ wallMs, counter, values, ...rest }) => {
    const names = REPLICATED_ENTITIES[rest.entity].fields;
    const fields = Object.fromEntries(values.map((v, index) => [names[index % names.length]!, v]));
    return {
      ...rest,
      fields,
      hlc: encodeHlc({ wallMs, counter, deviceId: rest.deviceId }),
      schemaVersion: SYNC_SCHEMA_VERSION,
    };
  });

describe('change records on the wire', () => {
  it('every change the shared schema accepts passes the server schema unchanged', () => {
    fc.assert(
      fc.property(change, (candidate) => {
        const shared = changeRecordSchema.parse(candidate);
        expect(changeInputSchema.parse(shared)).toEqual(shared);
      }),
      { seed: 4, numRuns: 300 },
    );
  });
});
