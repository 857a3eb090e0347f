/**
 * keys.json beside the database: the database key wrapped twice (primary: passphrase or OS
 * keystore; recovery: the admin recovery key). Written atomically (temp file, fsync, rename) so
 * a crash never leaves a half-written key file.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { wrappedKeySchema } from './wrapped-key.js';

export const keyFileSchema = z.strictObject({
  format: z.literal('chairside-keys/1'),
  databaseId: z.string().min(1),
  primary: wrappedKeySchema,
  recovery: wrappedKeySchema,
});
export type KeyFile = z.infer<typeof keyFileSchema>;

/** Reads and validates the key file. */
export function readKeyFile(path: string): KeyFile {
  const parsed = keyFileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new Error('The key file is damaged or not a Chairside key file.');
  return parsed.data;
}

/** Writes the key file atomically; `exclusive` refuses to replace an existing file. */
export function writeKeyFile(path: string, keyFile: KeyFile, exclusive = false): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(keyFile, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (exclusive) {
    // link-then-rename would be stricter; setup already refuses when the database exists.
    try {
      readFileSync(path);
      throw new Error('a key file already exists');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  renameSync(temp, path);
}
