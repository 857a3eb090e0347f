import { describe, expect, it } from 'vitest';
import { MAX_CHANGE_FIELDS_LENGTH, REPLICATED_ENTITIES, SYNC_SCHEMA_VERSION, changeRecordSchema } from './change.js';
import { encodeHlc } from './hlc.js';

const DEVICE = '01JDEVCE000000000000000000';
const valid = {
  changeId: '01JCHANGE00000000000000001',
  txId: '01JTX000000000000000000001',
  deviceId: DEVICE,
  userId: '01JAVTHR000000000000000000',
  entity: 'patient',
  rowId: '01JPATENT00000000000000000',
  op: 'update',
  fields: { first_name: 'Asha', phone: null, archived_at: 1_767_225_600_000 },
  hlc: encodeHlc({ wallMs: 1_767_225_600_000, counter: 3, deviceId: DEVICE }),
  schemaVersion: SYNC_SCHEMA_VERSION,
};
const problemsOf = (input: unknown) => changeRecordSchema.safeParse(input).error?.issues.map((i) => i.message) ?? [];

describe('changeRecordSchema', () => {
  it('accepts a well-formed change', () => {
    expect(changeRecordSchema.parse(valid)).toEqual(valid);
  });

  it.each<[string, unknown]>([
    ['a float', 1.5],
    ['an unsafe integer', 2 ** 60],
    ['an object', { nested: true }],
    ['an array', ['a']],
  ])('refuses %s as a field value', (_label, value) => {
    expect(changeRecordSchema.safeParse({ ...valid, fields: { first_name: value } }).success).toBe(false);
  });

  it('refuses a field the entity does not declare', () => {
    expect(problemsOf({ ...valid, fields: { failed_attempts: 3 } })).toEqual(['not a field of patient']);
  });

  it('refuses an entity that is not replicated', () => {
    expect(changeRecordSchema.safeParse({ ...valid, entity: 'sessions' }).success).toBe(false);
  });

  it('refuses a clock stamped by another device, and a malformed clock', () => {
    const other = encodeHlc({ wallMs: 1, counter: 0, deviceId: 'someone-else' });
    expect(problemsOf({ ...valid, hlc: other })).toEqual(['clock of another device']);
    expect(problemsOf({ ...valid, hlc: 'yesterday' })).toEqual(['must be an encoded hybrid logical clock']);
  });

  it('refuses an update that changes nothing, but allows a delete without fields', () => {
    expect(problemsOf({ ...valid, fields: {} })).toEqual(['an update changes at least one field']);
    expect(changeRecordSchema.safeParse({ ...valid, op: 'delete', fields: {} }).success).toBe(true);
  });

  it('refuses fields whose JSON is longer than the limit, judged by the JSON itself', () => {
    const over = 'a'.repeat(MAX_CHANGE_FIELDS_LENGTH);
    expect(problemsOf({ ...valid, fields: { address: over } })).toEqual(['fields are too large']);
    // Quotes escape to two characters: 20,000 of them are 40,002 in JSON, within the limit.
    expect(changeRecordSchema.safeParse({ ...valid, fields: { address: '"'.repeat(20_000) } }).success).toBe(true);
    const escapedOver = '"'.repeat(MAX_CHANGE_FIELDS_LENGTH / 2);
    expect(problemsOf({ ...valid, fields: { address: escapedOver } })).toEqual(['fields are too large']);
  });

  it('refuses unknown keys and a schema version from a newer app', () => {
    expect(changeRecordSchema.safeParse({ ...valid, extra: 1 }).success).toBe(false);
    expect(changeRecordSchema.safeParse({ ...valid, schemaVersion: SYNC_SCHEMA_VERSION + 1 }).success).toBe(false);
  });

  it('declares every entity as mutable or append-only, with snake-case names the server accepts', () => {
    for (const [name, definition] of Object.entries(REPLICATED_ENTITIES)) {
      expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(['mutable', 'appendOnly']).toContain(definition.kind);
      for (const field of definition.fields) expect(field).toMatch(/^[a-z][a-z0-9_]*$/);
    }
    expect(REPLICATED_ENTITIES.clinical_note.kind).toBe('appendOnly');
    expect(REPLICATED_ENTITIES.patient.kind).toBe('mutable');
  });
});
