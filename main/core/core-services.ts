/** The services handlers use, built once per clinic core. */
import type { RateLimiterMemory } from 'rate-limiter-flexible';
import type { AuditLog } from './audit/audit-log.js';
import type { PasswordHasher } from './auth/password-hasher.js';
import type { SessionStore } from './auth/session-store.js';
import type { UserKeys } from './auth/user-keys.js';
import type { ClinicState } from './clinic-state.js';
import type { Sources } from './platform/sources.js';
import type { ReplicationHooks } from './sync/replication-hooks.js';
import type { SyncEngine } from './sync/sync-engine.js';

export interface CoreServices {
  readonly sources: Sources;
  readonly clinic: ClinicState;
  readonly sessions: SessionStore;
  readonly hasher: PasswordHasher;
  /** Issues and opens users' password-wrapped signing keys. */
  readonly userKeys: UserKeys;
  readonly audit: AuditLog;
  /** Failed sign-ins per source address: a brute-force guard independent of the account lockout. */
  readonly signInFailuresBySource: RateLimiterMemory;
  /** Push and pull with the clinic's sync server. */
  readonly sync: SyncEngine;
  /** What each domain does beside the merge of its replicated entities (main/core/replication.ts). */
  readonly replication: ReplicationHooks;
}
