/**
 * The sync server's test harnesses live under test/support/sync-server, out of the production
 * folders: proven against the real lint configuration, production server code fails lint when it
 * imports one, and the server's tests may.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ overrideConfigFile: 'build/eslint.config.mjs' });

async function restrictedImports(filePath: string, code: string): Promise<number> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((message) => message.ruleId === 'no-restricted-imports').length;
}

const importHarness = (depth: string) =>
  `import { TestClock } from '${depth}test/support/sync-server/conformance-fixtures.js';\nexport const c = TestClock;\n`;

describe('sync-server test harness lint', () => {
  it('forbids production server code from importing a test harness', async () => {
    expect(await restrictedImports('sync-server/storage/x.ts', importHarness('../../'))).toBe(1);
    expect(await restrictedImports('sync-server/http/routes.ts', importHarness('../../'))).toBe(1);
  });

  it("lets the server's tests import the harnesses", async () => {
    expect(await restrictedImports('sync-server/storage/x.test.ts', importHarness('../../'))).toBe(0);
    expect(await restrictedImports('sync-server/http/x.integration.test.ts', importHarness('../../'))).toBe(0);
  });

  it('still forbids the other layers in server tests', async () => {
    expect(
      await restrictedImports(
        'sync-server/storage/x.test.ts',
        "import { c } from '../../main/core/clinic-core.js';\nexport const d = c;\n",
      ),
    ).toBe(1);
  });
});
