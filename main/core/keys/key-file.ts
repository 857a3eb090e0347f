/**
 * keys.json beside the database: the database key wrapped twice (primary: passphrase or OS
 * keystore; recovery: the admin recovery key). Written atomically (temp file, fsync, rename) so
 * a crash never leaves a half-written key file.
 */
import {
  closeSync,
  existsSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { wrappedKeySchema } from './wrapped-key.js';

export const keyFileSchema = z.strictObject({
  format: z.literal('chairside-keys/1'),
  databaseId: z.string().min(1),
  primary: wrappedKeySchema,
  recovery: wrappedKeySchema,
});
export type KeyFile = z.infer<typeof keyFileSchema>;

const DAMAGED = 'The key file is damaged or not a Chairside key file.';

/** Reads and validates the key file; a file that is not valid JSON or not a key file gets one clear message. */
export function readKeyFile(path: string): KeyFile {
  const text = readFileSync(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(DAMAGED);
  }
  const parsed = keyFileSchema.safeParse(json);
  if (!parsed.success) throw new Error(DAMAGED);
  return parsed.data;
}

/**
 * Writes the key file atomically; `exclusive` refuses to replace an existing file. The temp file
 * never outlives a call, whether it succeeds or fails.
 */
export function writeKeyFile(path: string, keyFile: KeyFile, exclusive = false): void {
  const temp = `${path}.tmp`;
  try {
    const fd = openSync(temp, 'w', 0o600);
    try {
      // A temp file left by a crash keeps its old mode when reopened: set it explicitly.
      fchmodSync(fd, 0o600);
      writeFileSync(fd, `${JSON.stringify(keyFile, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (exclusive) {
      // link() fails with EEXIST instead of replacing: no window between a check and the write.
      try {
        linkSync(temp, path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new Error('a key file already exists');
        // File systems without hard links (FAT, some shares): check, then rename.
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
        if (existsSync(path)) throw new Error('a key file already exists');
        renameSync(temp, path);
      }
    } else {
      renameSync(temp, path);
    }
  } finally {
    rmSync(temp, { force: true });
  }
  syncDirectory(dirname(path));
}

/** Makes the new directory entry durable; Windows cannot open a directory for fsync, and NTFS journals renames. */
function syncDirectory(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
