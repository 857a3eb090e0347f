/**
 * The device's push/pull engine (docs/sync-protocol.md, "Device sync engine"; the routes it
 * calls are declared in shared/sync/wire/). One round:
 *
 * 1. sign the server's challenge with the device key and take a short-lived token;
 * 2. push the outbox rows not yet acknowledged, one batch per local transaction
 *    (`POST /v1/changes`), and set `pushed_at` only after the server acknowledged them. A crash
 *    between the two is safe: the server dedupes by change id, so the re-push inserts nothing.
 *    Once nothing is left to push, the accepted changes leave the outbox (outbox-pruning.ts);
 * 3. pull pages after the stored cursor (`GET /v1/changes?after=`) and apply other devices'
 *    changes with the shared merge, one transaction per page together with the new cursor;
 * 4. record the round in the audit trail (`sync.round`, counts only).
 *
 * Network failures, 5xx and 429 are retried with exponential backoff and full jitter; a batch the
 * server refuses permanently is recorded in `sync_refused` and no longer blocks the queue. The
 * engine writes in its own short transactions (like a background job), never while a request is
 * in flight; concurrent callers share the round in progress.
 */
import { z } from 'zod';
import type { SyncRound } from '../../../shared/api/sync.js';
import type { Role } from '../../../shared/permissions.js';
import { type ChangeRecord, changeRecordSchema } from '../../../shared/sync/change.js';
import { DEFAULT_MAX_DRIFT_MS, validatedHlcWallMs } from '../../../shared/sync/hlc.js';
import { PAGE_CURSOR_HEADER, PAGE_HAS_MORE_HEADER } from '../../../shared/sync/page-headers.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { ClinicState } from '../clinic-state.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import type { Sources } from '../platform/sources.js';
import type { BackgroundSyncOptions } from './sync-scheduler.js';
import { pushAuditChains } from './audit-push.js';
import { assertServerLogTrusted } from './checkpoint-pin.js';
import { readRevocation, recordRevocation } from './device-revocation.js';
import { rebootstrapFromSnapshot } from './snapshot-rebootstrap.js';
import type { ReplicationHooks } from './replication-hooks.js';
import { pruneAcceptedOutbox } from './outbox-pruning.js';
import { applyRemoteChange, receiveRemoteClocks } from './sync-apply.js';
import {
  DEFAULT_PULL_LIMIT,
  MAX_BATCHES_PER_PUSH,
  MAX_CHANGES_PER_PUSH,
  changesPull,
  changesPush,
  pulledPageShapeSchema,
} from '../../../shared/sync/wire/changes.js';
import { ACCESS_TOKEN_TTL_MS } from '../../../shared/sync/wire/devices.js';
import { SYNC_PROTOCOL_VERSION } from '../../../shared/sync/wire/protocol.js';
import { type ChangeInput, MAX_PAGE_SIZE } from '../../../shared/sync/wire/records.js';
import {
  type FetchLike,
  SyncRequestError,
  callSyncRoute,
  openSyncRoute,
  parseAnswer,
  readAnswer,
  requestToken,
} from './sync-http.js';
/** How long a round reuses an access token: half of its lifetime. */
const TOKEN_REUSE_MS = ACCESS_TOKEN_TTL_MS / 2;

/** How failed requests are retried. */
export interface RetryPolicy {
  /** Attempts per request, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 30_000 };

/** What a ClinicCore may inject into its engine. */
export interface SyncEngineOptions {
  readonly fetch?: FetchLike;
  readonly retry?: Partial<RetryPolicy>;
  /** Waits between retries; a timer unless a test replaces it. */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly requestTimeoutMs?: number;
  /** Background rounds and the live channel (sync-scheduler.ts); false turns them off (tests that drive rounds by hand). */
  readonly background?: BackgroundSyncOptions | false;
}

/** The stored identity of this device on its server. */
export interface SyncIdentity {
  readonly serverUrl: string;
  readonly clinicId: string;
  readonly deviceId: string;
  readonly privateKey: Buffer;
  readonly cursor: number;
  readonly lastAttemptAt: number | null;
  readonly lastSuccessAt: number | null;
  readonly lastError: string | null;
}

/** Reads the identity; undefined while the clinic is not connected. */
export function readSyncIdentity(db: ReadDb): SyncIdentity | undefined {
  const row = db
    .query<{
      server_url: string;
      server_clinic_id: string;
      device_id: string;
      private_key: Buffer;
      pulled_cursor: number;
      last_attempt_at: number | null;
      last_success_at: number | null;
      last_error: string | null;
    }>(
      `SELECT server_url, server_clinic_id, device_id, private_key, pulled_cursor, last_attempt_at, last_success_at,
         last_error FROM sync_identity`,
    )
    .get();
  if (!row) return undefined;
  return {
    serverUrl: row.server_url,
    clinicId: row.server_clinic_id,
    deviceId: row.device_id,
    privateKey: row.private_key,
    cursor: row.pulled_cursor,
    lastAttemptAt: row.last_attempt_at,
    lastSuccessAt: row.last_success_at,
    lastError: row.last_error,
  };
}

/** Outbox rows neither acknowledged nor refused. */
const PENDING_WHERE = `pushed_at IS NULL AND NOT EXISTS (SELECT 1 FROM sync_refused r WHERE r.change_id = o.change_id)`;

/** Counts for sync.status. */
export function syncCounts(db: ReadDb): { pending: number; refused: number; conflicts: number } {
  const count = (sql: string) => db.query<{ n: number }>(sql).get()!.n;
  return {
    pending: count(`SELECT count(*) AS n FROM sync_outbox o WHERE ${PENDING_WHERE}`),
    refused: count('SELECT count(*) AS n FROM sync_refused'),
    conflicts: count('SELECT count(*) AS n FROM sync_conflicts'),
  };
}

/** The columns of an outbox row a push reads. */
export interface OutboxRow {
  change_id: string;
  tx_id: string;
  device_id: string;
  user_id: string;
  entity: string;
  row_id: string;
  op: string;
  fields: string;
  hlc: string;
  schema_version: number;
}

/** One local transaction as a push sends it. */
interface Batch {
  readonly txId: string;
  readonly changes: ChangeInput[];
  /** The transaction's signature by the user who made it (change-recorder.ts sealTransaction). */
  readonly signature?: string;
  readonly signedBy?: string;
}

type Counts = { pushed: number; refused: number; pulled: number; applied: number; conflicts: number };

/** Who asked for a round: a signed-in user (sync.now) or nobody (background). */
export type RoundTrigger = { readonly userId: string; readonly role: Role } | null;

export class SyncEngine {
  readonly fetch: FetchLike;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly timeoutMs: number;
  private inFlight: Promise<SyncRound> | null = null;
  private readonly revokedListeners = new Set<() => void>();
  /** The last access token, reused by later rounds (background rounds run often; a token lasts 10 min). */
  private cachedToken: { readonly token: string; readonly key: string; readonly obtainedAt: number } | null = null;

  constructor(
    private readonly deps: {
      readonly clinic: ClinicState;
      readonly audit: AuditLog;
      readonly sources: Sources;
      readonly replication: ReplicationHooks;
    },
    options: SyncEngineOptions = {},
  ) {
    this.fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** Runs one round, or joins the one in progress. Never throws for network or server failures. */
  runRound(trigger: RoundTrigger): Promise<SyncRound> {
    if (!this.inFlight) {
      this.inFlight = this.round(trigger).finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  private now(): number {
    return this.deps.sources.clock.now();
  }

  /** Registers what happens once this device learns it was revoked (end sessions, stop syncing). */
  onRevoked(listener: () => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  /**
   * Locks this device after the server answered DEVICE_REVOKED (a round, or the live channel):
   * records it with its audit entry, then tells the listeners. Idempotent.
   */
  recordRevoked(source: 'round' | 'live'): void {
    recordRevocation(this.deps.clinic, this.deps.audit, this.now(), source);
    for (const listener of [...this.revokedListeners]) listener();
  }

  private async round(trigger: RoundTrigger): Promise<SyncRound> {
    const counts: Counts = { pushed: 0, refused: 0, pulled: 0, applied: 0, conflicts: 0 };
    const db = this.deps.clinic.db;
    const identity = db ? readSyncIdentity(db) : undefined;
    if (!db || !identity) return { connected: false, ok: false, ...counts, error: 'not-connected' };
    // A revoked device stays silent: the server would refuse it, and it must not keep trying.
    if (readRevocation(db)) return { connected: true, ok: false, ...counts, error: 'DEVICE_REVOKED' };
    db.setSynchronous('NORMAL');
    db.transaction(() => db.command('UPDATE sync_identity SET last_attempt_at = ?').run([this.now()]));
    let error: string | null = null;
    try {
      // A server whose audit log proved rewritten or rolled back is not talked to again.
      assertServerLogTrusted(db);
      const first = await this.roundToken(identity);
      let token = first.token;
      try {
        await this.push(db, identity, token, counts);
        await this.pull(db, identity, token, counts);
      } catch (failure) {
        // A reused token the server no longer takes (expired, server keys rotated): one fresh
        // token and the exchange again; push is idempotent and pull resumes from the stored cursor.
        if (!first.cached || !(failure instanceof SyncRequestError) || failure.code !== 'UNAUTHENTICATED')
          throw failure;
        this.cachedToken = null;
        ({ token } = await this.roundToken(identity));
        await this.push(db, identity, token, counts);
        await this.pull(db, identity, token, counts);
      }
      // This device's audit chain, and the server's checkpoint against the pinned one.
      await pushAuditChains({
        db,
        device: this.deps.clinic.device!,
        audit: this.deps.audit,
        privateKey: identity.privateKey,
        serverClinicId: identity.clinicId,
        now: () => this.now(),
        request: (route, input) =>
          this.retrying(() =>
            callSyncRoute(this.fetch, identity.serverUrl, route, input, { token, timeoutMs: this.timeoutMs }),
          ),
      });
    } catch (failure) {
      // A local failure (a pulled change the tables refuse) rolled its page back; the cursor did
      // not move, so the next round tries again. Only the kind of failure is kept.
      error = failure instanceof SyncRequestError ? failure.code : 'LOCAL_FAILURE';
      if (error === 'UNAUTHENTICATED') this.cachedToken = null;
    }
    this.finishRound(db, trigger, counts, error);
    if (error === 'DEVICE_REVOKED') this.recordRevoked('round');
    return { connected: true, ok: error === null, ...counts, error };
  }

  private finishRound(db: WriteDb, trigger: RoundTrigger, counts: Counts, error: string | null): void {
    const device = this.deps.clinic.device;
    if (!device) throw new Error('no device identity');
    const now = this.now();
    db.setSynchronous('NORMAL');
    db.transaction(() => {
      db.command(
        error === null
          ? 'UPDATE sync_identity SET last_success_at = @now, last_error = NULL'
          : 'UPDATE sync_identity SET last_error = @error',
      ).run(error === null ? { now } : { error });
      this.deps.audit.append(db, device, {
        userId: trigger?.userId ?? null,
        role: trigger?.role ?? null,
        action: 'sync.round',
        entityType: 'clinic',
        entityId: null,
        outcome: error === null ? 'success' : 'error',
        purpose: 'administration',
        legalBasis: 'contract',
        details: { ...counts, trigger: trigger ? 'user' : 'background', ...(error === null ? {} : { error }) },
      });
    });
  }

  /**
   * A token for this round: the one an earlier round took, for up to half its lifetime by this
   * device's clock, or a fresh one (challenge signed with the device key). Reuse spares every
   * background round two requests and a signature; the server still checks revocation on each.
   */
  private async roundToken(identity: SyncIdentity): Promise<{ token: string; cached: boolean }> {
    const key = `${identity.serverUrl}\n${identity.clinicId}\n${identity.deviceId}`;
    const now = this.now();
    const held = this.cachedToken;
    if (held && held.key === key && now >= held.obtainedAt && now - held.obtainedAt < TOKEN_REUSE_MS) {
      return { token: held.token, cached: true };
    }
    const { token } = await this.retrying(() =>
      requestToken(this.fetch, identity.serverUrl, {
        clinicId: identity.clinicId,
        deviceId: identity.deviceId,
        privateKey: identity.privateKey,
      }),
    );
    this.cachedToken = { token, key, obtainedAt: now };
    return { token, cached: false };
  }

  /** Runs a request, retrying transient failures with exponential backoff and full jitter. */
  private async retrying<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request();
      } catch (failure) {
        if (!(failure instanceof SyncRequestError) || !failure.transient || attempt >= this.retry.attempts) {
          throw failure;
        }
        const ceiling = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempt - 1));
        const jitter = this.deps.sources.random.bytes(4).readUInt32BE(0) / 0x1_0000_0000;
        await this.sleep(Math.max(failure.retryAfterMs ?? 0, Math.floor(jitter * ceiling)));
      }
    }
  }

  private async push(db: WriteDb, identity: SyncIdentity, token: string, counts: Counts): Promise<void> {
    for (;;) {
      const batches = this.pendingBatches(db);
      if (batches.length === 0) {
        // Everything is acknowledged: the accepted changes are the server's now (outbox-pruning.ts).
        // Also after a round that pushed nothing, so a prune a crash interrupted is finished.
        pruneAcceptedOutbox(db);
        return;
      }
      const before = counts.pushed + counts.refused;
      let heldBack: boolean;
      try {
        heldBack = await this.pushBatches(db, identity, token, batches, counts);
      } catch (failure) {
        if (!(failure instanceof SyncRequestError) || !isRefusal(failure)) throw failure;
        // The server names the refused batch only in prose and keeps the ones before it: find it
        // by pushing one batch at a time (the re-push of the applied ones is idempotent).
        heldBack = false;
        for (const batch of batches) {
          try {
            heldBack = await this.pushBatches(db, identity, token, [batch], counts);
          } catch (single) {
            if (!(single instanceof SyncRequestError) || !isRefusal(single)) throw single;
            this.recordRefusal(
              db,
              batch.txId,
              batch.changes.map((change) => String(change.changeId)),
              single.code,
            );
            counts.refused += batch.changes.length;
          }
          if (heldBack) break;
        }
      }
      // A batch held back (clock ahead of the server's) waits for the next round; so does
      // everything behind it, to keep this device's transactions in order.
      if (heldBack) throw new SyncRequestError(200, 'CLOCK_AHEAD');
      if (counts.pushed + counts.refused === before) throw new SyncRequestError(200, 'BAD_ANSWER');
    }
  }

  /** Pushes batches and records the answer; true when the server held a batch back. */
  private async pushBatches(
    db: WriteDb,
    identity: SyncIdentity,
    token: string,
    batches: readonly Batch[],
    counts: Counts,
  ): Promise<boolean> {
    const { batches: results } = await this.retrying(() =>
      callSyncRoute(
        this.fetch,
        identity.serverUrl,
        changesPush,
        { body: { protocolVersion: SYNC_PROTOCOL_VERSION, batches: [...batches] } },
        { token, timeoutMs: this.timeoutMs },
      ),
    );
    const now = this.now();
    let heldBack = false;
    db.setSynchronous('FULL');
    db.transaction(() => {
      const mark = db.command('UPDATE sync_outbox SET pushed_at = ? WHERE change_id = ? AND pushed_at IS NULL');
      for (const result of results) {
        if (result.status === 'retry') heldBack = true;
        else if (result.status === 'quarantined') {
          for (const change of result.changes) {
            this.recordRefusal(db, result.txId, [change.changeId], change.reason, change.detail);
          }
          counts.refused += result.changes.length;
        } else {
          for (const change of result.changes) counts.pushed += mark.run([now, change.changeId]).changes;
        }
      }
    });
    return heldBack;
  }

  /**
   * Records changes the server refused for good; they leave the queue and are shown instead, with
   * the server's detail (a rule or field name, never a value: validate-batch.ts) when it gave one.
   */
  private recordRefusal(
    db: WriteDb,
    txId: string,
    changeIds: readonly string[],
    code: string,
    detail: string = '',
  ): void {
    const message = detail === '' ? 'refused by the sync server' : detail;
    const write = () => {
      const insert = db.command(
        `INSERT INTO sync_refused (change_id, tx_id, code, message, refused_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      );
      for (const changeId of changeIds) insert.run([changeId, txId, code, message, this.now()]);
    };
    if (db.inTransaction) write();
    else {
      db.setSynchronous('FULL');
      db.transaction(write);
    }
  }

  /**
   * The next push: whole local transactions in clock order, within the server's limits, except
   * that transactions which only create users go first. The server checks each change against
   * its author's role in its user directory, which learns users from their `user` inserts; a
   * clinic that worked offline before connecting has work older than the user records the
   * connection queued, and would otherwise have it refused as `unknown-user`. Creating a user
   * earlier than its clock says cannot make another change fail: it only adds to the directory.
   */
  private pendingBatches(db: ReadDb): Batch[] {
    const txIds = db
      .query<{ tx_id: string }>(
        `SELECT tx_id FROM sync_outbox o WHERE ${PENDING_WHERE} GROUP BY tx_id
         ORDER BY max(entity <> 'user' OR op <> 'insert'), min(hlc) LIMIT ?`,
      )
      .all([MAX_BATCHES_PER_PUSH]);
    const batches: Batch[] = [];
    let total = 0;
    for (const { tx_id: txId } of txIds) {
      const rows = db
        .query<OutboxRow>(
          `SELECT change_id, tx_id, device_id, user_id, entity, row_id, op, fields, hlc, schema_version
           FROM sync_outbox o WHERE tx_id = ? AND ${PENDING_WHERE} ORDER BY hlc`,
        )
        .all([txId]);
      if (batches.length > 0 && total + rows.length > MAX_CHANGES_PER_PUSH) break;
      total += rows.length;
      const signed = db
        .query<{ user_id: string; signature: string }>(
          'SELECT user_id, signature FROM sync_outbox_signatures WHERE tx_id = ?',
        )
        .get([txId]);
      batches.push({
        txId,
        ...(signed ? { signature: signed.signature, signedBy: signed.user_id } : {}),
        changes: rows.map((row) => ({
          changeId: row.change_id,
          txId: row.tx_id,
          deviceId: row.device_id,
          userId: row.user_id,
          entity: row.entity,
          rowId: row.row_id,
          // Written by the change recorder from the same shapes (shared/sync/change.ts); the server checks them again.
          op: row.op as ChangeInput['op'],
          fields: JSON.parse(row.fields) as ChangeInput['fields'],
          hlc: row.hlc,
          schemaVersion: row.schema_version,
        })),
      });
    }
    return batches;
  }

  private async pull(db: WriteDb, identity: SyncIdentity, token: string, counts: Counts): Promise<void> {
    let cursor = readSyncIdentity(db)?.cursor ?? identity.cursor;
    let rebootstrapped = false;
    for (;;) {
      const page = await this.retrying(() =>
        callSyncRoute(
          this.fetch,
          identity.serverUrl,
          changesPull,
          { query: { after: cursor, limit: DEFAULT_PULL_LIMIT } },
          { token, timeoutMs: this.timeoutMs },
        ),
      );
      if (page.behindHorizon && !rebootstrapped) {
        // This database went back behind the horizon (restored from a backup): start again from
        // a snapshot merged into it, outbox untouched, then pull on from its cursor.
        const merged = await rebootstrapFromSnapshot({
          db,
          fetch: this.fetch,
          serverUrl: identity.serverUrl,
          token,
          serverClinicId: identity.clinicId,
          deviceId: identity.deviceId,
          now: () => this.now(),
          hooks: this.deps.replication,
          timeoutMs: this.timeoutMs,
        });
        counts.pulled += merged.rows;
        counts.applied += merged.applied;
        counts.conflicts += merged.conflicts;
        // Its audit chain went back too: a new epoch, so no (device, epoch, seq) is used twice.
        this.deps.clinic.startAuditEpoch(this.deps.audit, 'restored-backup');
        rebootstrapped = true;
        cursor = merged.cursor;
        continue;
      }
      const now = this.now();
      db.setSynchronous('FULL');
      db.transaction(() => {
        const seen: ChangeRecord[] = [];
        for (const stored of page.changes) {
          counts.pulled++;
          if (stored.deviceId === identity.deviceId) continue;
          const { serverSeq: _seq, receivedAt: _received, ...wire } = stored;
          const change = changeRecordSchema.safeParse(wire);
          // A change this app version cannot read is skipped, not applied half-way.
          if (!change.success) continue;
          const outcome = applyRemoteChange(db, change.data, now, this.deps.replication);
          if (outcome.applied) counts.applied++;
          counts.conflicts += outcome.conflicts;
          seen.push(change.data);
        }
        // One receive of the page's newest clock, not one per change at the page's single `now`.
        receiveRemoteClocks(db, identity.deviceId, newestFollowableClock(seen, now), now);
        db.command('UPDATE sync_identity SET pulled_cursor = ? WHERE pulled_cursor < ?').run([
          page.cursor,
          page.cursor,
        ]);
      });
      if (!page.hasMore || page.cursor <= cursor) return;
      cursor = page.cursor;
    }
  }
}

/**
 * Page size of the join's pull: the server's largest (sync-server MAX_PAGE_SIZE). A join pulls the
 * whole log, so fewer, larger pages save a token check and a storage transaction per page
 * (measured at 100,000 patients: pages of 5,000 against 1,000 took the PostgreSQL pull from
 * about 6.1 s to 4.9 s).
 */
const JOIN_PAGE_SIZE = MAX_PAGE_SIZE;
/** The largest page of servers before 2026-11-22, which refuse a larger limit (VALIDATION_FAILED). */
const EARLIER_SERVERS_PAGE_SIZE = 1000;

/**
 * Pulls every change of the clinic after `from` (setup.joinClinic, before the local database is
 * written: 0, or the cursor of the snapshot it starts from) and hands each change this app can read to `receive`, in server order; returns the
 * number pulled and the last cursor. The next page is asked for as soon as this one's headers
 * say where it ends (shared/sync/page-headers.ts), before its body is read and parsed, so the
 * server reads page N+1 while this device parses, checks and merges page N. Without the
 * headers (an older server) it is asked for once the body has been parsed.
 */
export async function pullEverything(
  fetchFn: FetchLike,
  serverUrl: string,
  token: string,
  receive: (change: ChangeRecord) => void,
  from = 0,
): Promise<{ pulled: number; cursor: number }> {
  let pulled = 0;
  let cursor = from;
  let pageSize = JOIN_PAGE_SIZE;
  const request = (after: number) => {
    const answer = openSyncRoute(fetchFn, serverUrl, changesPull, { query: { after, limit: pageSize } }, { token });
    // A page asked for ahead is dropped when the current one fails: its failure is not unhandled.
    answer.catch(() => undefined);
    return answer;
  };
  let next = request(cursor);
  for (;;) {
    const response = await next;
    if (response.status === 400 && pulled === 0 && pageSize > EARLIER_SERVERS_PAGE_SIZE) {
      // An earlier server refuses the page size: ask it for its own largest from the start.
      await response.body?.cancel();
      pageSize = EARLIER_SERVERS_PAGE_SIZE;
      next = request(cursor);
      continue;
    }
    const announced = response.ok ? announcedPageEnd(response) : null;
    const askedAhead = announced !== null && announced.hasMore && announced.cursor > cursor;
    if (askedAhead) next = request(announced.cursor);
    const page = parseAnswer(pulledPageShapeSchema, await readAnswer(response));
    if (announced && (announced.cursor !== page.cursor || announced.hasMore !== page.hasMore)) {
      throw new SyncRequestError(response.status, 'BAD_ANSWER');
    }
    const more = page.hasMore && page.cursor > cursor;
    if (more && !askedAhead) next = request(page.cursor);
    for (const stored of page.changes) {
      pulled++;
      if (typeof stored !== 'object' || stored === null) continue;
      // The server's own fields go; everything else must be a valid change (a strict schema).
      const { serverSeq: _seq, receivedAt: _received, ...wire } = stored as Record<string, unknown>;
      const change = changeRecordSchema.safeParse(wire);
      if (change.success) receive(change.data);
    }
    if (!more) return { pulled, cursor: Math.max(cursor, page.cursor) };
    cursor = page.cursor;
  }
}

/** A page's end as its headers announce it. */
const pageEndHeadersSchema = z.object({
  cursor: z
    .string()
    .regex(/^\d{1,15}$/)
    .transform(Number),
  hasMore: z.enum(['0', '1']).transform((flag) => flag === '1'),
});

/** The end a page's headers announce, or null when they announce none (or nothing readable). */
function announcedPageEnd(response: Response): z.output<typeof pageEndHeadersSchema> | null {
  const parsed = pageEndHeadersSchema.safeParse({
    cursor: response.headers.get(PAGE_CURSOR_HEADER),
    hasMore: response.headers.get(PAGE_HAS_MORE_HEADER),
  });
  return parsed.success ? parsed.data : null;
}

/**
 * The one clock a join or a pulled page needs to receive (the HLC receive rule) to pass every clock it pulled: the
 * newest that is not too far ahead to follow (encoded HLCs sort in clock order). Receiving each
 * of a big clinic's changes at the join's single `now` would add one to the counter per change
 * and overflow it (65,535 per millisecond); one receive of the newest gives a clock above them all.
 */
export function newestFollowableClock(changes: readonly Pick<ChangeRecord, 'hlc'>[], nowMs: number): string[] {
  let newest: string | null = null;
  for (const { hlc } of changes) {
    if ((newest === null || hlc > newest) && validatedHlcWallMs(hlc) - nowMs <= DEFAULT_MAX_DRIFT_MS) newest = hlc;
  }
  return newest === null ? [] : [newest];
}

/** A permanent refusal of a pushed batch: invalid, or a change id reused with other content. */
function isRefusal(failure: SyncRequestError): boolean {
  return failure.code === 'VALIDATION_FAILED' || failure.code === 'CONFLICT';
}
