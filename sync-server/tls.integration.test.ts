import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveServerKeys } from './auth/server-keys.js';
import { HSTS_HEADER } from './http/security-headers.js';
import { createSyncServer } from './server.js';
import { TestClock } from '../test/support/sync-server/conformance-fixtures.js';
import type { SyncStorage } from './storage/storage.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A self-signed certificate for 127.0.0.1 made with the openssl tool. */
function selfSignedCertificate(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-tls-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const result = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  if (result.status !== 0) throw new Error('openssl failed');
  return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
}

function get(port: number, options: { maxVersion?: 'TLSv1.1' | 'TLSv1.2'; ca: Buffer }) {
  return new Promise<{ status: number; headers: Record<string, unknown> }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/health',
        ca: options.ca,
        ...(options.maxVersion ? { maxVersion: options.maxVersion, minVersion: 'TLSv1' } : {}),
      },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, headers: res.headers });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('sync server over TLS', () => {
  it.skipIf(!hasOpenssl)('serves HTTPS with HSTS and refuses TLS older than 1.2', async () => {
    const { cert, key } = selfSignedCertificate();
    const storage = { close: async () => undefined } as unknown as SyncStorage;
    const app = createSyncServer({
      storage,
      serverKeys: deriveServerKeys(randomBytes(32)),
      clock: new TestClock(),
      logger: pino({ level: 'silent' }),
      tls: { cert, key },
    });
    cleanup.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const ok = await get(port, { ca: cert });
    expect(ok.status).toBe(200);
    expect(ok.headers['strict-transport-security']).toBe(HSTS_HEADER);
    await expect(get(port, { ca: cert, maxVersion: 'TLSv1.1' })).rejects.toThrow();
  });
});
