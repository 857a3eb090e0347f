/**
 * The auditor's offline command:
 * `npm run audit:verify -- FILE [--key VERIFIER_KEY] [--since-checkpoint SAVED]`. Streams the
 * export through AuditExportVerifier and prints one JSON line with the verdict. Exit codes: 0 the
 * export verifies, 1 it does not (the verdict names the first bad entry), 2 a usage error or an
 * unreadable file. Pass --key with the verifier key obtained from the server operator out of
 * band: without it the file's own key is used, which proves integrity but not who signed. Pass
 * --since-checkpoint with a checkpoint the clinic kept outside the server (a device's pinned
 * checkpoint as served, or an earlier export): the export must extend it, so a log cut back in
 * the server's database is found.
 */
import { createReadStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { savedCheckpointNote } from './saved-checkpoint.js';
import { AuditExportVerifier, type ExportVerdict } from './verify-export.js';

/** Runs the command; resolves to the verdict line and the exit code. */
export async function runVerifyExport(argv: readonly string[]): Promise<{ output: string; exitCode: number }> {
  let file: string;
  let key: string | undefined;
  let since: string | undefined;
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: { key: { type: 'string' }, 'since-checkpoint': { type: 'string' } },
    });
    if (parsed.positionals.length !== 1) throw new TypeError('give exactly one export file');
    file = parsed.positionals[0]!;
    key = parsed.values.key;
    const sinceFile = parsed.values['since-checkpoint'];
    if (sinceFile !== undefined) since = savedCheckpointNote(readSaved(sinceFile));
  } catch (error) {
    return { output: JSON.stringify({ ok: false, reason: `usage: ${(error as Error).message}` }), exitCode: 2 };
  }
  const verifier = new AuditExportVerifier(key, since);
  let verdict: ExportVerdict;
  try {
    const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!verifier.add(line)) {
        lines.close();
        break;
      }
    }
    verdict = verifier.finish();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { output: JSON.stringify({ ok: false, reason: `cannot read the file (${code})` }), exitCode: 2 };
  }
  return { output: JSON.stringify(verdict), exitCode: verdict.ok ? 0 : 1 };
}

function readSaved(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new TypeError(`cannot read the saved checkpoint (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
}

// Run only as the command, not when a test imports the module.
if (process.argv[1] !== undefined && /verify-export-cli\.[cm]?[jt]s$/.test(process.argv[1])) {
  const { output, exitCode } = await runVerifyExport(process.argv.slice(2));
  process.stdout.write(`${output}\n`);
  process.exit(exitCode);
}
