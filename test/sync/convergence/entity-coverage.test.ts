import { describe, expect, it } from 'vitest';
import { ENTITY_DECLARATIONS, ENTITY_NAMES } from '../../../shared/sync/entities.js';
import { ENTITY_COVERAGE, type NotModelled, type Writer } from './entity-coverage.js';

const entries = (entity: (typeof ENTITY_NAMES)[number]) =>
  Object.entries(ENTITY_COVERAGE[entity] as Readonly<Record<string, readonly Writer[] | NotModelled>>);

describe("the convergence model's coverage of the entity declarations", () => {
  it('names, for every declared field of every entity devices apply, the actions that write it or why none does', () => {
    for (const entity of ENTITY_NAMES) {
      const declared = Object.keys(ENTITY_DECLARATIONS[entity].fields).sort();
      expect(
        entries(entity)
          .map(([field]) => field)
          .sort(),
        entity,
      ).toEqual(declared);
      for (const [field, writers] of entries(entity)) {
        if ('notModelled' in writers) expect(writers.notModelled.length, `${entity}.${field}`).toBeGreaterThan(0);
        else expect(writers.length, `${entity}.${field}`).toBeGreaterThan(0);
      }
    }
  });
});
