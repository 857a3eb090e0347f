/**
 * The open clinic database of this process, or none before setup. Setup creates it through
 * `create`; every other path reaches it through the pipeline.
 */
import type Database from 'better-sqlite3-multiple-ciphers';
import type { AuditLog, DeviceIdentity } from './audit/audit-log.js';
import { WriteDb } from './db/access.js';
import { migrate } from './db/migrate.js';
import { migrations } from './db/migrations/index.js';
import { createClinicFiles, openClinicFiles } from './clinic-files.js';
import type { KeyProvider } from './keys/wrapped-key.js';
import type { Sources } from './platform/sources.js';

export class ClinicState {
  private raw: Database.Database | null = null;
  private writeDb: WriteDb | null = null;
  private identity: DeviceIdentity | null = null;

  constructor(
    readonly dataDir: string,
    private readonly primary: KeyProvider,
    private readonly sources: Sources,
  ) {}

  /** Opens the existing database (after migrating it), if there is one. */
  async openExisting(): Promise<void> {
    this.attach(await openClinicFiles(this.dataDir, this.primary));
  }

  /** Creates the database for clinic setup; `remove` undoes it if setup then fails. */
  async create(): Promise<{ recoveryKey: string; remove(): void }> {
    if (this.raw) throw new Error('a clinic database is already open');
    const created = await createClinicFiles(this.dataDir, this.primary, this.sources.random, this.sources.ids);
    try {
      this.attach(created.db);
    } catch (error) {
      created.db.close();
      created.remove();
      throw error;
    }
    return {
      recoveryKey: created.recoveryKey,
      remove: () => {
        this.close();
        created.remove();
      },
    };
  }

  private attach(raw: Database.Database): void {
    const db = new WriteDb(raw);
    migrate(db, migrations, () => this.sources.clock.now());
    this.raw = raw;
    this.writeDb = db;
    this.identity = null;
    this.loadDevice();
  }

  /** Reads the device row once it exists (setup writes it). */
  loadDevice(): DeviceIdentity | null {
    if (!this.identity && this.writeDb) {
      const row = this.writeDb.query<{ id: string; epoch: number }>('SELECT id, epoch FROM device').get();
      if (row) this.identity = { deviceId: row.id, epoch: row.epoch };
    }
    return this.identity;
  }

  /** The open database, or null before setup. */
  get db(): WriteDb | null {
    return this.writeDb;
  }

  /** This device's audit identity; null until setup wrote it. */
  get device(): DeviceIdentity | null {
    return this.loadDevice();
  }

  /** Starts a new audit epoch (restored backup, cloned database); see AuditLog.startEpoch. */
  startAuditEpoch(audit: AuditLog, reason: string): DeviceIdentity {
    const device = this.device;
    if (!this.writeDb || !device) throw new Error('no clinic is set up');
    this.identity = audit.startEpoch(this.writeDb, device, reason);
    return this.identity;
  }

  /** Closes the database (checkpointing the WAL). */
  close(): void {
    if (this.raw?.open) {
      this.raw.pragma('wal_checkpoint(TRUNCATE)');
      this.raw.close();
    }
    this.raw = null;
    this.writeDb = null;
    this.identity = null;
  }
}
