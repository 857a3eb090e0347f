/**
 * The one pipeline every call runs through, whatever the transport (Electron IPC, the browser
 * host's HTTP), in this order:
 *   1 validate the input (unknown keys rejected) → 2 resolve the session → 3 authorize (role ×
 *   permission, branch scope, re-authentication) → 4 rate limit → 5 run the handler in a
 *   transaction → 6 append the audit entry in that same transaction → 7 shape the output for the
 *   caller's role and validate it.
 * Denials and failures are audited too. Callers get `{code, message}`: no stack, no patient data.
 */
import type { z } from 'zod';
import type { ChannelContract } from '../../../shared/api/channel.js';
import type { ApiErrorBody } from '../../../shared/api/errors.js';
import { findChannel } from '../../../shared/api/registry.js';
import { PUBLIC, type Permission, roleHasPermission } from '../../../shared/permissions.js';
import type { AuditEntryInput } from '../audit/audit-log.js';
import type { CoreServices } from '../core-services.js';
import { createLogger } from '../logger.js';
import { ApiError, DENIAL_CODES } from './api-error.js';
import type {
  AuditAnnotation,
  Caller,
  HandlerTable,
  PrepareContext,
  RegisteredHandler,
  RunContext,
  TransportEffects,
} from './handler.js';
import type { RateLimits } from './rate-limits.js';
import { signerReplaced } from '../auth/user-keys.js';
import { type TransactionSigner, sealTransaction } from '../sync/change-recorder.js';

const log = createLogger('pipeline');

/** What the transport knows about the caller: its session token (never from the input) and source. */
export interface TransportContext {
  readonly sessionToken?: string | undefined;
  /** `ipc:<window>` for Electron, the peer address for HTTP. Used for rate limits, not audited. */
  readonly source: string;
}

export type InvokeResult =
  | { readonly ok: true; readonly output: unknown; readonly effects: TransportEffects }
  | { readonly ok: false; readonly error: ApiErrorBody; readonly effects: TransportEffects };

/** Channels polled by the UI (lock state): they do not count as user activity. */
const PASSIVE_CHANNELS: ReadonlySet<string> = new Set(['auth.session', 'setup.status']);

/** Describes zod issues by path and rule only: never the values, which may be patient data. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'input'}: ${issue.message}`)
    .join('; ');
}

/** The caller's signing key, when their session opened one. */
export function sessionSigner(caller: Caller | null): TransactionSigner | null {
  const signer = caller?.session.signer;
  return caller && signer ? { userId: caller.userId, signer } : null;
}

export class Pipeline {
  private readonly handlers: ReadonlyMap<string, RegisteredHandler>;

  constructor(
    handlers: HandlerTable,
    private readonly services: CoreServices,
    private readonly limits: RateLimits,
  ) {
    const map = new Map<string, RegisteredHandler>();
    for (const [name, handler] of Object.entries(handlers) as Array<[string, RegisteredHandler]>) {
      if (handler.channel.name !== name) throw new Error(`handler for ${name} is bound to ${handler.channel.name}`);
      if (!handler.channel.permission) throw new Error(`channel ${name} has no permission`);
      map.set(name, handler);
    }
    this.handlers = map;
  }

  /** Runs one call through every step. Never throws: failures come back as `{ok: false}`. */
  async invoke(channelName: string, rawInput: unknown, transport: TransportContext): Promise<InvokeResult> {
    const effects: TransportEffects = {};
    const channel = findChannel(channelName);
    const handler = channel ? this.handlers.get(channel.name) : undefined;
    if (!channel || !handler) {
      return { ok: false, error: { code: 'NOT_FOUND', message: 'There is no such operation.' }, effects };
    }
    let caller: Caller | null = null;
    const annotation: AuditAnnotation = { entityId: null, details: {} };
    try {
      // 1. Validate.
      const parsed = channel.input.safeParse(rawInput ?? {});
      if (!parsed.success) {
        throw new ApiError('VALIDATION_FAILED', `Some fields are not valid: ${describeIssues(parsed.error)}.`);
      }
      const input: unknown = parsed.data;
      const db = this.services.clinic.db;
      if (!db) {
        if (handler.runsWithoutDatabase) {
          const ctx = this.prepareContext(null, null, transport.source);
          return { ok: true, output: handler.runsWithoutDatabase(ctx, input), effects };
        }
        if (!handler.createsDatabase) {
          throw new ApiError('NOT_SET_UP', 'No clinic has been set up on this device yet.');
        }
      }
      // 2. Session.
      if (channel.permission !== PUBLIC) {
        caller = this.resolveCaller(channel, transport.sessionToken);
        if (db && signerReplaced(db, caller.session)) {
          // An Admin reset this user's password (and key) on another computer since they signed
          // in here: what the session signs now would be refused, so it ends.
          this.services.sessions.end(caller.session);
          throw new ApiError('SESSION_EXPIRED', 'Your password was reset; please sign in again.');
        }
        // 3. Authorize.
        if (!roleHasPermission(caller.role, channel.permission)) {
          throw new ApiError('FORBIDDEN', 'Your role does not allow this.');
        }
        if (channel.reauth && !this.services.sessions.reauthFresh(caller.session)) {
          throw new ApiError('REAUTH_REQUIRED', 'Please confirm your password to continue.');
        }
        const branchId = channel.branchOf?.(input as never);
        if (branchId !== undefined) assertBranch(caller, branchId);
      }
      // 4. Rate limit.
      const kind = channel.permission === PUBLIC ? 'public' : channel.writes ? 'write' : 'read';
      const waitMs = await this.limits.consume(kind, caller ? `user:${caller.userId}` : `source:${transport.source}`);
      if (waitMs !== null) {
        throw new ApiError('RATE_LIMITED', 'Too many requests; please wait a moment.', { retryAfterMs: waitMs });
      }
      // 5-6. Prepare (async, read-only), then run and audit in one transaction.
      const prepareCtx = this.prepareContext(caller, this.services.clinic.db, transport.source);
      const prepared = await handler.prepare(prepareCtx, input);
      // 7 happens inside runAndAudit, before the commit: output that fails its schema rolls back.
      const output = this.runAndAudit(channel, handler, caller, input, prepared, annotation, effects, transport.source);
      if (caller && !PASSIVE_CHANNELS.has(channel.name) && !effects.clearSession) {
        this.services.sessions.touch(caller.session);
      }
      return { ok: true, output, effects };
    } catch (error) {
      return { ok: false, error: this.recordFailure(channel, caller, annotation, error), effects };
    }
  }

  private resolveCaller(channel: ChannelContract, token: string | undefined): Caller {
    const resolved = this.services.sessions.resolve(token);
    if (resolved.kind === 'none') throw new ApiError('UNAUTHENTICATED', 'Please sign in.');
    if (resolved.kind === 'expired')
      throw new ApiError('SESSION_EXPIRED', 'Your session has ended; please sign in again.');
    const session = resolved.session;
    const caller: Caller = {
      userId: session.userId,
      role: session.role,
      session,
      allBranches: session.allBranches,
      branchIds: session.branchIds,
    };
    if (resolved.kind === 'locked' && !channel.allowLocked) {
      throw Object.assign(new ApiError('SESSION_LOCKED', 'The screen is locked; enter your password to continue.'), {
        caller,
      });
    }
    return caller;
  }

  private prepareContext(caller: Caller | null, db: PrepareContext['db'], source: string): PrepareContext {
    return {
      caller,
      db,
      services: this.services,
      source,
      can: (permission) => (caller ? roleHasPermission(caller.role, permission) : false),
      requireBranch: (branchId) => {
        if (caller) assertBranch(caller, branchId);
      },
    };
  }

  private runAndAudit(
    channel: ChannelContract,
    handler: RegisteredHandler,
    caller: Caller | null,
    input: unknown,
    prepared: unknown,
    annotation: AuditAnnotation,
    effects: TransportEffects,
    source: string,
  ): unknown {
    const db = this.services.clinic.db;
    if (!db) throw new ApiError('NOT_SET_UP', 'No clinic has been set up on this device yet.');
    const afterCommit: Array<() => void> = [];
    const onRollback: Array<() => void> = [];
    const ctx: RunContext = {
      ...this.prepareContext(caller, db, source),
      db,
      now: this.services.sources.clock.now(),
      audit: annotation,
      effects,
      afterCommit: (effect) => afterCommit.push(effect),
      onRollback: (effect) => onRollback.push(effect),
    };
    let keptFailure: ApiError | null = null;
    // Clinical writes are committed with synchronous=FULL; transactions that only add the audit
    // entry of a read use NORMAL (durable against an app crash; WAL keeps the chain a prefix).
    db.setSynchronous(channel.writes ? 'FULL' : 'NORMAL');
    const transaction = () =>
      db.transaction(() => {
        try {
          const result = shapeOutput(channel, caller, handler.run(ctx, input as never, prepared));
          // The call's replicated changes are signed by the session's user, in the same transaction.
          sealTransaction(ctx, sessionSigner(caller));
          this.appendAudit(channel, caller, annotation, 'success');
          return result;
        } catch (error) {
          if (error instanceof ApiError && error.options.keepChanges) {
            keptFailure = error;
            Object.assign(annotation.details, error.options.auditDetails ?? {}, { code: error.code });
            this.appendAudit(channel, caller, annotation, DENIAL_CODES.has(error.code) ? 'denied' : 'error');
            return undefined;
          }
          throw error;
        }
      });
    let output: unknown;
    try {
      output = transaction();
    } catch (error) {
      for (const effect of onRollback) effect();
      throw error;
    }
    for (const effect of afterCommit) effect();
    if (keptFailure) throw Object.assign(keptFailure, { audited: true });
    return output;
  }

  private appendAudit(
    channel: ChannelContract,
    caller: Caller | null,
    annotation: AuditAnnotation,
    outcome: AuditEntryInput['outcome'],
  ): void {
    const db = this.services.clinic.db;
    const device = this.services.clinic.device;
    if (!db || !device) throw new Error('no database to audit into');
    this.services.audit.append(db, device, {
      userId: caller?.userId ?? annotation.subject?.userId ?? null,
      role: caller?.role ?? annotation.subject?.role ?? null,
      action: annotation.action ?? channel.audit.action,
      entityType: channel.audit.entityType,
      entityId: annotation.entityId,
      outcome,
      purpose: channel.audit.purpose,
      legalBasis: channel.audit.legalBasis,
      details: annotation.details,
    });
  }

  /** Audits a failure in its own transaction (the action's was rolled back) and builds the envelope. */
  private recordFailure(
    channel: ChannelContract,
    callerAtFailure: Caller | null,
    annotation: AuditAnnotation,
    error: unknown,
  ): ApiErrorBody {
    const apiError =
      error instanceof ApiError ? error : new ApiError('INTERNAL', 'Something went wrong; nothing was saved.');
    if (!(error instanceof ApiError)) {
      // Log the kind of failure only: messages of driver errors can quote values.
      log.error('handler failed', {
        channel: channel.name,
        error: error instanceof Error ? error.name : typeof error,
        code: (error as { code?: unknown }).code === undefined ? null : String((error as { code?: unknown }).code),
      });
    }
    const alreadyAudited = (error as { audited?: boolean }).audited === true;
    const lockedCaller = (error as { caller?: Caller }).caller ?? callerAtFailure;
    const db = this.services.clinic.db;
    if (!alreadyAudited && db && this.services.clinic.device) {
      try {
        db.setSynchronous('NORMAL');
        db.transaction(() => {
          const failureAnnotation: AuditAnnotation = {
            ...annotation,
            details: { ...(apiError.options.auditDetails ?? {}), code: apiError.code },
          };
          if (apiError.options.subjectUserId && !lockedCaller) {
            failureAnnotation.details.subjectUserId = apiError.options.subjectUserId;
          }
          this.appendAudit(
            channel,
            lockedCaller,
            failureAnnotation,
            DENIAL_CODES.has(apiError.code) ? 'denied' : 'error',
          );
        });
      } catch (auditError) {
        log.error('could not audit a failure', { channel: channel.name, error: (auditError as Error).name });
      }
    }
    const body: ApiErrorBody = { code: apiError.code, message: apiError.message };
    if (apiError.options.retryAfterMs !== undefined) body.retryAfterMs = apiError.options.retryAfterMs;
    return body;
  }
}

/**
 * Step 7: removes what the caller's role may not see, then validates what leaves. Runs inside the
 * transaction, so an output that breaks its schema rolls the action back instead of committing
 * it and reporting an error.
 */
function shapeOutput(channel: ChannelContract, caller: Caller | null, output: unknown): unknown {
  const role = caller?.role;
  const can = (permission: Permission) => (role ? roleHasPermission(role, permission) : false);
  const checked = channel.output.safeParse(channel.shape ? channel.shape(output as never, can) : output);
  if (!checked.success) {
    log.error('output failed its schema', { channel: channel.name });
    throw new Error('output failed its schema');
  }
  return checked.data;
}

/** Throws FORBIDDEN unless the caller works in the branch. */
function assertBranch(caller: Caller, branchId: string): void {
  if (!caller.allBranches && !caller.branchIds.includes(branchId)) {
    throw new ApiError('FORBIDDEN', 'This belongs to a branch you do not work in.');
  }
}
