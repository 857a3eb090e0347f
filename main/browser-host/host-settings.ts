/**
 * What starting the browser host needs (data directory, port, passphrase, recovery key) and the
 * zod schemas that check it where it crosses into the program: command-line arguments and
 * environment variables.
 */
import { z } from 'zod';
import { MIN_PASSPHRASE_LENGTH } from '../core/keys/passphrase-key-provider.js';

/** The port `npm start` uses unless CHAIRSIDE_PORT says otherwise. */
export const DEFAULT_PORT = 4310;

/** Everything one start of the host needs. */
export interface HostSettings {
  readonly dataDir: string;
  readonly port: number;
  readonly passphrase: string;
  /** Set for `--recover`: re-wrap the database key with the passphrase before opening. */
  readonly recoveryKey?: string | undefined;
}

/** A port as typed: 0 (any free port) to 65535. */
export const portSchema = z
  .string()
  .regex(/^\d{1,5}$/, 'must be a whole number from 0 to 65535')
  .transform(Number)
  .pipe(z.number().int().min(0, 'must be 0 or more').max(65_535, 'must be 65535 or less'));

/** A directory path as typed; resolved against the working directory later. */
export const dataDirSchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be text') })
  .trim()
  .min(1, 'must not be empty');

/** The database passphrase, counted in characters as the key provider counts them. */
export const passphraseSchema = z
  .string({
    error: (issue) =>
      issue.input === undefined
        ? `is not set; set it to the database passphrase (at least ${MIN_PASSPHRASE_LENGTH} characters)`
        : 'must be text',
  })
  .refine((value) => [...value].length >= MIN_PASSPHRASE_LENGTH, {
    message: `must have at least ${MIN_PASSPHRASE_LENGTH} characters`,
  });

/** The recovery key as printed at clinic setup; its format is checked when it is used. */
export const recoveryKeySchema = z
  .string({ error: (issue) => (issue.input === undefined ? 'is not set' : 'must be text') })
  .trim()
  .min(1, 'is empty');

/** Thrown for a problem the person starting Chairside can fix; its message is printed as is. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/**
 * Parses a value with a schema, or throws a StartupError naming where it came from: the label,
 * then the path inside the value (an environment variable's name).
 */
export function parseSetting<T>(schema: z.ZodType<T>, value: unknown, label = ''): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  // Names and issue messages only: the value itself may be a secret (a passphrase, a recovery key).
  const reasons = parsed.error.issues
    .map((issue) => [label, issue.path.join('.'), issue.message].filter((part) => part.length > 0).join(' '))
    .join('; ');
  throw new StartupError(`${reasons}.`);
}
