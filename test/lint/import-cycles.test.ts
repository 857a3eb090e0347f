/**
 * The import rules of build/dependency-cruiser.cjs, proven against the real configuration (as
 * layering.test.ts does for the layers): a planted import cycle in main/, sync-server/ or shared/
 * fails the check, a one-way import passes, and the sync wing importing a clinic domain fails.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const planted: string[] = [];

/** Writes modules into a new folder of the source tree (the rules match on real paths) and returns the folder. */
function plant(folder: string, files: Record<string, string>): string {
  mkdirSync(folder, { recursive: true });
  planted.push(folder);
  for (const [name, code] of Object.entries(files)) writeFileSync(join(folder, name), code);
  return folder;
}

/** Runs the check on `paths`; its exit code and what it printed. */
async function depcruise(...paths: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run('npx', ['depcruise', ...paths, '--config', 'build/dependency-cruiser.cjs']);
    return { code: 0, output: stdout };
  } catch (failure) {
    const { code, stdout } = failure as { code: number; stdout: string };
    return { code, output: stdout };
  }
}

afterEach(() => {
  for (const folder of planted.splice(0)) rmSync(folder, { recursive: true, force: true });
});

const probe = (layer: string) => `${layer}/zz-cycle-probe-${process.pid}`;

describe('import cycle lint', () => {
  it.each(['main/core', 'sync-server', 'shared'])(
    'fails a cycle planted in %s, type-only imports included',
    async (layer) => {
      const folder = plant(probe(layer), {
        'a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
        'b.ts': "import type { a } from './a.js';\nexport const b = (): number => 1;\nexport type A = typeof a;\n",
      });
      const result = await depcruise(folder);
      expect(result.code).not.toBe(0);
      expect(result.output).toContain('no-cycle');
    },
  );

  it('passes the same modules importing one way only', async () => {
    const folder = plant(probe('main/core'), {
      'a.ts': "import { b } from './b.js';\nexport const a = (): number => b() + 1;\n",
      'b.ts': 'export const b = (): number => 1;\n',
    });
    expect(await depcruise(folder)).toMatchObject({ code: 0 });
  });

  it('fails the sync wing importing a clinic domain', async () => {
    const domain = plant(probe('main/core/patients'), { 'd.ts': 'export const d = 1;\n' });
    const sync = plant(probe('main/core/sync'), {
      's.ts': `import { d } from '../../patients/${domain.split('/').pop()}/d.js';\nexport const s = d;\n`,
    });
    const result = await depcruise(sync);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('sync-imports-no-domain');
  });
});
