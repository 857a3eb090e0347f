/**
 * A sync server for the browser tests: the SQLite storage and HTTP server of
 * test/sync/sync-support.ts, listening on 127.0.0.1, but on the system clock. The browser-host
 * clinics run on the system clock (the UI's timers and main's must agree); the sync tests'
 * server starts at a fixed date, which would hold every push from them back as "clock ahead".
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RateLimitSettings } from '../../../sync-server/auth/rate-limits.js';
import { type TestServer, startTestServer } from '../../support/sync-server/test-support.js';
import { TestClock } from '../../support/sync-server/conformance-fixtures.js';
import { masterKeySource } from '../../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../../sync-server/storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../../../sync-server/storage/storage.js';

/** The test clock's shape, reading the system clock. */
class SystemTimeClock extends TestClock {
  override now(): number {
    return Date.now();
  }
}

export interface BrowserTestSyncServer {
  readonly url: string;
  readonly server: TestServer;
  readonly storage: SyncStorage;
  close(): Promise<void>;
}

/** Starts a sync server on a free loopback port; `rateLimits` replaces the generous test budgets. */
export async function startSyncServer(
  options: { rateLimits?: RateLimitSettings } = {},
): Promise<BrowserTestSyncServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-e2e-sync-'));
  const clock = new SystemTimeClock();
  const storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(randomBytes(32)), clock });
  const server = await startTestServer(storage, clock, options.rateLimits ? { rateLimits: options.rateLimits } : {});
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (server.app.server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    storage,
    async close() {
      await server.app.close();
      await storage.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
