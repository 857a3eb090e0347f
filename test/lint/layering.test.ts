/**
 * The layering rules of docs/architecture.md, proven against the real lint configuration: each
 * forbidden import fails lint in its layer, and the allowed one passes.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ overrideConfigFile: 'build/eslint.config.mjs' });

async function restrictedImports(filePath: string, code: string): Promise<number> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((message) => message.ruleId === 'no-restricted-imports').length;
}

describe('layering lint', () => {
  it('forbids Node built-ins and other layers in shared/', async () => {
    expect(
      await restrictedImports(
        'shared/x.ts',
        "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n",
      ),
    ).toBe(1);
    expect(
      await restrictedImports('shared/x.ts', "import { createHash } from 'crypto';\nexport const x = createHash;\n"),
    ).toBe(1);
    expect(
      await restrictedImports('shared/api/x.ts', "import { x } from '../../main/core/y.js';\nexport const z = x;\n"),
    ).toBe(1);
    expect(await restrictedImports('shared/x.ts', "import { z } from 'zod';\nexport const s = z.string();\n")).toBe(0);
  });

  it('forbids electron and the transports in main/core', async () => {
    expect(
      await restrictedImports('main/core/x.ts', "import { app } from 'electron';\nexport const a = app;\n"),
    ).toBeGreaterThan(0);
    expect(
      await restrictedImports(
        'main/core/x.ts',
        "import { b } from '../browser-host/server.js';\nexport const c = b;\n",
      ),
    ).toBe(1);
    expect(
      await restrictedImports(
        'main/core/x.ts',
        "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n",
      ),
    ).toBe(0);
  });

  it('forbids main/ and Node built-ins in the renderer', async () => {
    expect(
      await restrictedImports(
        'renderer/x.ts',
        "import { c } from '../main/core/clinic-core.js';\nexport const d = c;\n",
      ),
    ).toBe(1);
    expect(
      await restrictedImports('renderer/x.tsx', "import { join } from 'node:path';\nexport const j = join;\n"),
    ).toBe(1);
    expect(
      await restrictedImports(
        'renderer/x.ts',
        "import { channels } from '../shared/api/registry.js';\nexport const c = channels;\n",
      ),
    ).toBe(0);
  });
});
