/**
 * The clinic core: one clinic's encrypted database, sessions and the API pipeline, in plain
 * Node (no Electron). Transports (Electron IPC, the browser host) call `invoke`.
 */
import { AuditLog } from './audit/audit-log.js';
import { DEFAULT_RATE_LIMITS, type RateLimitPolicy, RateLimits } from './api/rate-limits.js';
import { handlerTable } from './api/handler-table.js';
import { type InvokeResult, Pipeline, type TransportContext } from './api/pipeline.js';
import { DEFAULT_BCRYPT_COST, PasswordHasher } from './auth/password-hasher.js';
import { DEFAULT_SESSION_POLICY, type SessionPolicy, SessionStore } from './auth/session-store.js';
import { UserKeys, userKeyScryptFor } from './auth/user-keys.js';
import type { ScryptParams } from '../../shared/sync/entities/user-signing-key.js';
import { clinicFilesState } from './clinic-files.js';
import { ClinicState } from './clinic-state.js';
import type { CoreServices } from './core-services.js';
import type { KeyProvider } from './keys/wrapped-key.js';
import { REPLICATION_HOOKS } from './replication.js';
import { nodeSha256 } from './platform/node-hashing.js';
import { type Sources, systemSources } from './platform/sources.js';
import { findChannel } from '../../shared/api/registry.js';
import { backgroundSync } from './sync/background-sync.js';
import { readRevocation } from './sync/device-revocation.js';
import { SyncEngine, type SyncEngineOptions, readSyncIdentity } from './sync/sync-engine.js';
import type { SyncScheduler } from './sync/sync-scheduler.js';

export interface ClinicCoreOptions {
  readonly dataDir: string;
  /** Wraps the database key: a passphrase provider headless, the OS keystore in Electron. */
  readonly keyProvider: KeyProvider;
  readonly sources?: Sources;
  readonly sessionPolicy?: Partial<SessionPolicy>;
  readonly rateLimits?: Partial<RateLimitPolicy>;
  /** bcrypt cost; 12 unless a test asks for less. Stored hashes carry their own cost. */
  readonly bcryptCost?: number;
  /**
   * scrypt cost of users' wrapped signing keys: OWASP's minimum, or scrypt's floor where a test
   * lowered the bcrypt cost (both are password work factors a test does not need to pay).
   */
  readonly userKeyScrypt?: ScryptParams;
  /**
   * Opening a database that was restored from a backup or copied from another device: the audit
   * chain continues in a new epoch so no sequence number is ever reused.
   */
  readonly startNewAuditEpoch?: { readonly reason: 'restored-backup' | 'cloned-database' };
  /** The sync engine's transport and retry policy (tests inject fetch faults and fast retries). */
  readonly sync?: SyncEngineOptions;
}

export type { InvokeResult, TransportContext };

export class ClinicCore {
  private constructor(
    private readonly pipeline: Pipeline,
    private readonly services: CoreServices,
    /** Background rounds and the live channel; null when the options turned them off. */
    private readonly background: SyncScheduler | null,
  ) {}

  /** Opens the clinic in dataDir if one exists (a wrong key throws and changes nothing), else starts empty. */
  static async open(options: ClinicCoreOptions): Promise<ClinicCore> {
    const sources = options.sources ?? systemSources();
    const clinic = new ClinicState(options.dataDir, options.keyProvider, sources);
    if (clinicFilesState(options.dataDir) !== 'none') await clinic.openExisting();
    const limits = new RateLimits({ ...DEFAULT_RATE_LIMITS, ...options.rateLimits });
    const audit = new AuditLog(nodeSha256, () => sources.clock.now());
    const services: CoreServices = {
      sources,
      clinic,
      sessions: new SessionStore(sources.clock, sources.random, sources.ids, {
        ...DEFAULT_SESSION_POLICY,
        ...options.sessionPolicy,
      }),
      hasher: new PasswordHasher(options.bcryptCost ?? DEFAULT_BCRYPT_COST),
      userKeys: new UserKeys(sources.random, options.userKeyScrypt ?? userKeyScryptFor(options.bcryptCost)),
      audit,
      signInFailuresBySource: limits.signInFailuresBySource,
      sync: new SyncEngine({ clinic, audit, sources, replication: REPLICATION_HOOKS }, options.sync),
      replication: REPLICATION_HOOKS,
    };
    if (options.startNewAuditEpoch && clinic.db)
      clinic.startAuditEpoch(services.audit, options.startNewAuditEpoch.reason);
    const background = backgroundSync(services, options.sync?.background);
    // A revoked device locks itself: nobody stays signed in, and it stops syncing.
    services.sync.onRevoked(() => {
      services.sessions.endAll();
      void background?.stop();
    });
    const core = new ClinicCore(new Pipeline(handlerTable, services, limits), services, background);
    core.startBackgroundSyncWhenConnected();
    return core;
  }

  /** Runs one call through the pipeline; a committed write prompts a background round. */
  async invoke(channel: string, input: unknown, transport: TransportContext): Promise<InvokeResult> {
    const result = await this.pipeline.invoke(channel, input, transport);
    if (result.ok && findChannel(channel)?.writes) {
      if (this.background?.running) this.background.noteLocalWrite();
      // sync.connect and setup.joinClinic make a clinic connected: background sync starts then.
      else this.startBackgroundSyncWhenConnected();
    }
    return result;
  }

  /** Starts background sync once the clinic is connected to a server and not revoked. */
  private startBackgroundSyncWhenConnected(): void {
    const db = this.services.clinic.db;
    if (!this.background || this.background.running || !db) return;
    if (readSyncIdentity(db) && !readRevocation(db)) this.background.start();
  }

  /** True once a clinic exists on this device. */
  get isSetUp(): boolean {
    return this.services.clinic.db !== null;
  }

  /** Stops background sync, closes the database and stops the password workers. */
  async close(): Promise<void> {
    await this.background?.stop();
    this.services.clinic.close();
    await this.services.hasher.close();
  }
}
