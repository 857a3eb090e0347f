/**
 * The convergence test's sync server: an encrypted SQLite storage in its own directory, or a
 * PostgreSQL storage in its own throwaway database, behind a Fastify server listening on
 * 127.0.0.1. It can stop answering (devices then see refused connections), start again on the
 * same port, and restart for real: the storage is closed and opened again (files with the same
 * master key, or a new connection pool), as a server process that was restarted. It can also die
 * in the middle of a request: inside a chosen storage operation, before that operation commits or
 * right after, with no answer sent; it then comes back from its storage.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerKeys, deriveServerKeys } from '../../../sync-server/auth/server-keys.js';
import { type TestServer, startTestServer } from '../../support/sync-server/test-support.js';
import type { TestClock } from '../../support/sync-server/conformance-fixtures.js';
import { openPostgresSyncStorage } from '../../../sync-server/storage/postgres/postgres-storage.js';
import { createTestDatabase } from '../../support/sync-server/test-database.js';
import { masterKeySource } from '../../../sync-server/storage/sqlite/key-source.js';
import { openSqliteSyncStorage } from '../../../sync-server/storage/sqlite/sqlite-storage.js';
import type { SyncStorage } from '../../../sync-server/storage/storage.js';
import type { CrashOperation } from './actions.js';

/** Where the next request will find the server dying. */
export interface ArmedCrash {
  readonly operation: CrashOperation;
  readonly phase: 'beforeCommit' | 'afterCommit';
}

/** What the dying server's storage operation throws; nothing of the server survives it. */
class ServerDiedError extends Error {}

/** Which storage the server keeps the clinic in. */
export type StorageKind = 'sqlite' | 'postgres';

/** Opens the server's storage, again after each restart, and removes it at the end. */
interface StorageHome {
  open(): Promise<SyncStorage>;
  remove(): Promise<void>;
}

async function storageHome(kind: StorageKind, masterKey: Buffer, clock: TestClock): Promise<StorageHome> {
  if (kind === 'postgres') {
    const database = await createTestDatabase();
    return {
      open: () => openPostgresSyncStorage({ connection: database.app, clock, masterKey: database.masterKey }),
      remove: () => database.drop(),
    };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'chairside-convergence-server-'));
  return {
    open: () => openSqliteSyncStorage({ dataDir, keys: masterKeySource(masterKey), clock }),
    remove: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
}

/** A restartable sync server over its own storage. */
export class RestartableSyncServer {
  private storageHandle: SyncStorage;
  private server: TestServer | null;
  /** How many times the storage files were closed and opened again. */
  storageReopens = 0;
  /** The death the next matching storage operation meets, if any. */
  private armed: ArmedCrash | null = null;
  /** Set when the server died inside a request whose answer has not been dropped yet. */
  private died = false;
  /** How many times the server died inside a request. */
  deathsMidRequest = 0;

  private constructor(
    private readonly home: StorageHome,
    private readonly keys: ServerKeys,
    private readonly clock: TestClock,
    storage: SyncStorage,
  ) {
    this.storageHandle = storage;
    this.server = null;
  }

  private portNumber = 0;

  get port(): number {
    return this.portNumber;
  }

  private async listen(port: number): Promise<void> {
    const server = await startTestServer(this.storageHandle, this.clock, {
      serverKeys: this.keys,
      wrapStorage: (storage) => this.dying(storage),
    });
    await server.app.listen({ port, host: '127.0.0.1' });
    this.portNumber = (server.app.server.address() as AddressInfo).port;
    this.server = server;
  }

  /** The next request that reaches `operation` kills the server there. */
  armCrash(crash: ArmedCrash | null): void {
    this.armed = crash;
  }

  /**
   * True once, after the server died inside the request just answered: the server is then down
   * (that answer never left it) until the next start, which reopens its storage files.
   */
  async diedDuringRequest(): Promise<boolean> {
    if (!this.died) return false;
    this.died = false;
    this.deathsMidRequest++;
    await this.stop();
    this.reopenOnStart = true;
    return true;
  }

  private reopenOnStart = false;

  /** The storage as the app sees it: the armed operation dies before or after it commits. */
  private dying(storage: SyncStorage): SyncStorage {
    const operationOf = (target: object, key: string | symbol): unknown => {
      const value: unknown = Reflect.get(target, key);
      if (typeof value !== 'function') return value;
      const operation = (value as (...args: unknown[]) => Promise<unknown>).bind(target);
      return async (...args: unknown[]) => {
        // A dead server does nothing more: no later operation of any request runs (a batch of
        // the same push submitted behind the one that died must not commit).
        if (this.died) throw new ServerDiedError('the server is dead');
        const armed = this.armed;
        if (!armed || armed.operation !== key) return operation(...args);
        this.armed = null;
        if (armed.phase === 'beforeCommit') {
          this.died = true;
          throw new ServerDiedError(`the server died before ${armed.operation} committed`);
        }
        await operation(...args);
        this.died = true;
        throw new ServerDiedError(`the server died after ${armed.operation} committed`);
      };
    };
    return new Proxy(storage, {
      get: (target, key) => {
        if (key !== 'clinic') return operationOf(target, key);
        return async (clinicId: string) => {
          const store = await target.clinic(clinicId);
          return new Proxy(store, { get: (inner, innerKey) => operationOf(inner, innerKey) });
        };
      },
    });
  }

  static async start(clock: TestClock, kind: StorageKind): Promise<RestartableSyncServer> {
    const masterKey = randomBytes(32);
    // A restarted server keeps its signing keys (they derive from its master key): devices pin them.
    const keys = deriveServerKeys(masterKey);
    const home = await storageHome(kind, masterKey, clock);
    const restartable = new RestartableSyncServer(home, keys, clock, await home.open());
    await restartable.listen(0);
    return restartable;
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

  /**
   * Listens again on the same port; with `reopenStorage`, or after a death mid-request, the
   * storage files are closed and reopened first.
   */
  async start(options: { reopenStorage: boolean }): Promise<void> {
    if (this.server) return;
    if (options.reopenStorage || this.reopenOnStart) {
      this.reopenOnStart = false;
      await this.storageHandle.close();
      this.storageHandle = await this.home.open();
      this.storageReopens++;
    }
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    await this.stop();
    await this.storageHandle.close();
    await this.home.remove();
  }
}
