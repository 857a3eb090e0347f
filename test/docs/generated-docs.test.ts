import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GENERATE_DOCS_COMMAND, generateDocs } from '../../build/generate-docs.js';
import { channelNames } from '../../shared/api/registry.js';
import { permissions } from '../../shared/permissions.js';
import { SYNC_ROUTES } from '../../shared/sync/wire/index.js';

const docs = await generateDocs();
const committed = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('generated docs', () => {
  it.each(Object.keys(docs))('%s matches the registries and the permission matrix', (path) => {
    const expected = docs[path as keyof typeof docs];
    expect(committed(path), `${path} is out of date: run \`${GENERATE_DOCS_COMMAND}\` and commit the result`).toBe(
      expected,
    );
  });

  it('documents every channel in the API reference', () => {
    for (const name of channelNames) expect(docs['docs/api.md']).toContain(`### \`${name}\``);
  });

  it('documents every sync route with its method and path', () => {
    for (const route of SYNC_ROUTES.list) {
      expect(docs['docs/sync-routes.md']).toContain(`### \`${route.name}\``);
      expect(docs['docs/sync-routes.md']).toContain(`\`${route.method} ${route.path}\``);
    }
  });

  it('lists every permission in the matrix', () => {
    for (const permission of permissions) expect(docs['docs/permissions.md']).toContain(`| \`${permission}\``);
  });
});
