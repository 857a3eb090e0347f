/**
 * Where the embedded storage gets its database keys. Every file (the catalog and each clinic's)
 * has its own 32-byte key, applied raw like the app's own database (docs/architecture.md), so
 * one clinic's key opens no other clinic's file.
 */
import { hkdfSync } from 'node:crypto';

/** Supplies the raw 32-byte SQLCipher keys of the catalog and of each clinic's file. */
export interface ServerKeySource {
  catalogKey(): Promise<Buffer>;
  clinicKey(clinicId: string): Promise<Buffer>;
}

const SALT = 'chairside/sync-server/sqlite-keys/v1';

/**
 * Keys derived from one 32-byte server master key with HKDF-SHA256 (RFC 5869), one per file
 * (info = "catalog" or "clinic\n" + clinic id). The master key comes from the server's secret
 * store or a key file; it is never written beside the databases.
 */
export function masterKeySource(masterKey: Buffer): ServerKeySource {
  if (masterKey.length !== 32) throw new Error('the server master key must be 32 bytes');
  const key = Buffer.from(masterKey);
  const derive = (info: string) => Buffer.from(hkdfSync('sha256', key, SALT, info, 32));
  return {
    catalogKey: async () => derive('catalog'),
    clinicKey: async (clinicId) => derive(`clinic\n${clinicId}`),
  };
}
