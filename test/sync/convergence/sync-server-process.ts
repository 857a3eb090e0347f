/**
 * The convergence test's sync server: an encrypted SQLite storage in its own directory behind a
 * Fastify server listening on 127.0.0.1. It can stop answering (devices then see refused
 * connections), start again on the same port, and restart for real: the storage files are
 * closed and opened again with the same master key, as a server process that was restarted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerKeys, deriveServerKeys } from '../../../sync-server/auth/server-keys.js';
import { type TestServer, startTestServer } from '../../../sync-server/http/test-support.js';
import type { TestClock } from '../../../sync-server/storage/conformance-fixtures.js';
import { masterKeySource } from '../../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../../sync-server/storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../../../sync-server/storage/storage.js';

/** A restartable sync server over files. */
export class RestartableSyncServer {
  private storageHandle: SyncStorage;
  private server: TestServer | null;
  /** How many times the storage files were closed and opened again. */
  storageReopens = 0;

  private constructor(
    private readonly dataDir: string,
    private readonly masterKey: Buffer,
    private readonly keys: ServerKeys,
    private readonly clock: TestClock,
    storage: SyncStorage,
    server: TestServer,
    readonly port: number,
  ) {
    this.storageHandle = storage;
    this.server = server;
  }

  static async start(clock: TestClock): Promise<RestartableSyncServer> {
    const dataDir = mkdtempSync(join(tmpdir(), 'chairside-convergence-server-'));
    const masterKey = randomBytes(32);
    // A restarted server keeps its signing keys (they derive from its master key): devices pin them.
    const keys = deriveServerKeys(masterKey);
    const storage = await openSqliteSyncStorage({ dataDir, keys: masterKeySource(masterKey), clock });
    const server = await startTestServer(storage, clock, { serverKeys: keys });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (server.app.server.address() as AddressInfo).port;
    return new RestartableSyncServer(dataDir, masterKey, keys, clock, storage, server, port);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The storage as it is open now (a hard restart replaces it). */
  get storage(): SyncStorage {
    return this.storageHandle;
  }

  get running(): boolean {
    return this.server !== null;
  }

  /** Stops answering; the storage stays open. */
  async stop(): Promise<void> {
    if (!this.server) return;
    await this.server.app.close();
    this.server = null;
  }

  /** Listens again on the same port; with `reopenStorage` the storage files are closed and reopened first. */
  async start(options: { reopenStorage: boolean }): Promise<void> {
    if (this.server) return;
    if (options.reopenStorage) {
      await this.storageHandle.close();
      this.storageHandle = await openSqliteSyncStorage({
        dataDir: this.dataDir,
        keys: masterKeySource(this.masterKey),
        clock: this.clock,
      });
      this.storageReopens++;
    }
    const server = await startTestServer(this.storageHandle, this.clock, { serverKeys: this.keys });
    await server.app.listen({ port: this.port, host: '127.0.0.1' });
    this.server = server;
  }

  async close(): Promise<void> {
    await this.stop();
    await this.storageHandle.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
