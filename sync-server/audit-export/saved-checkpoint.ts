/**
 * A checkpoint a clinic keeps outside the server (docs/operations.md, "Keeping checkpoints
 * outside the server"), as given to `--since-checkpoint FILE` of `audit verify` and of the
 * auditor's `npm run audit:verify`. Only the signed note counts: the plain size and root beside it
 * are ignored, since only what the server signed is evidence against it.
 */
import { z } from 'zod';

// `GET /v1/audit/checkpoint`'s answer (what devices pin), or an audit export's header line.
const servedCheckpointSchema = z.object({ note: z.string().min(1) });
const exportHeaderCheckpointSchema = z.object({ checkpoint: servedCheckpointSchema });

function noteOf(value: unknown): string | null {
  const served = servedCheckpointSchema.safeParse(value);
  if (served.success) return served.data.note;
  const header = exportHeaderCheckpointSchema.safeParse(value);
  return header.success ? header.data.checkpoint.note : null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The signed note in a saved checkpoint file: the JSON answer of the checkpoint route, the first
 * line (header) of an earlier audit export, or the note text itself.
 */
export function savedCheckpointNote(fileText: string): string {
  if (!fileText.trimStart().startsWith('{')) return fileText;
  const newline = fileText.indexOf('\n');
  return (
    noteOf(parseJson(fileText)) ?? (newline === -1 ? null : noteOf(parseJson(fileText.slice(0, newline)))) ?? fileText
  );
}
