/**
 * Handlers are registered against the channel contracts in shared/api, so a handler whose types
 * drift from its schemas does not compile, and the table must have exactly one handler per
 * channel. A handler has an optional async, read-only `prepare` phase (bcrypt, key derivation)
 * and a synchronous `run` phase that the pipeline executes in a transaction together with the
 * audit entry.
 */
import type { z } from 'zod';
import type { ChannelContract } from '../../../shared/api/channel.js';
import type { Channels, ChannelName } from '../../../shared/api/registry.js';
import type { Permission, Role } from '../../../shared/permissions.js';
import type { ReadDb, WriteDb } from '../db/access.js';
import type { Session } from '../auth/session-store.js';
import type { CoreServices } from '../core-services.js';

/** The signed-in caller, as the pipeline resolved it. */
export interface Caller {
  readonly userId: string;
  readonly role: Role;
  readonly session: Session;
  readonly allBranches: boolean;
  readonly branchIds: readonly string[];
}

/** What the transport must do after the call: set a new session token, or clear it. */
export interface TransportEffects {
  session?: { token: string; csrfToken: string };
  clearSession?: true;
}

/** Details a handler adds to the audit entry; values are never patient data. */
export interface AuditAnnotation {
  entityId: string | null;
  details: Record<string, string | number | boolean | null>;
  /** The user the entry is about when there is no caller yet (sign-in). */
  subject?: { userId: string; role: Role };
  /** Overrides the channel's action name (unlock through the same handler). */
  action?: string;
}

/** Shared by both phases. */
interface BaseContext {
  readonly caller: Caller | null;
  readonly services: CoreServices;
  readonly source: string;
  can(permission: Permission): boolean;
  /** Throws FORBIDDEN unless the caller works in that branch. */
  requireBranch(branchId: string): void;
}

/** The async, read-only phase. `db` is null before the clinic exists. */
export interface PrepareContext extends BaseContext {
  readonly db: ReadDb | null;
}

/** The transactional phase. */
export interface RunContext extends BaseContext {
  readonly db: WriteDb;
  readonly now: number;
  readonly audit: AuditAnnotation;
  readonly effects: TransportEffects;
  /** In-memory effects (sessions) that must only happen once the transaction committed. */
  afterCommit(effect: () => void): void;
  /** Clean-up outside the database (files made in prepare) when the transaction rolls back. */
  onRollback(effect: () => void): void;
}

type In<C extends ChannelContract> = z.output<C['input']>;
type Out<C extends ChannelContract> = z.output<C['output']>;

/** A handler as written, with its prepared value type. */
export interface HandlerDefinition<C extends ChannelContract, Prepared> {
  prepare?(ctx: PrepareContext, input: In<C>): Promise<Prepared>;
  run(ctx: RunContext, input: In<C>, prepared: Prepared): Out<C>;
  /** Only setup.status: answers before a database exists (nothing to audit into yet). */
  readonly runsWithoutDatabase?: (ctx: PrepareContext, input: In<C>) => Out<C>;
  /** The setup channels: their prepare phase creates the clinic database the run phase writes to. */
  readonly createsDatabase?: true;
}

/** A handler as the pipeline holds it. */
export interface RegisteredHandler<C extends ChannelContract = ChannelContract> {
  readonly channel: C;
  prepare(ctx: PrepareContext, input: In<C>): Promise<unknown>;
  run(ctx: RunContext, input: In<C>, prepared: unknown): Out<C>;
  readonly runsWithoutDatabase?: (ctx: PrepareContext, input: In<C>) => Out<C>;
  readonly createsDatabase?: true;
}

/** Binds a handler to its channel contract. */
export function handle<C extends ChannelContract, Prepared = undefined>(
  channel: C,
  definition: HandlerDefinition<C, Prepared>,
): RegisteredHandler<C> {
  return {
    channel,
    prepare: async (ctx, input) => (definition.prepare ? definition.prepare(ctx, input) : undefined),
    run: (ctx, input, prepared) => definition.run(ctx, input, prepared as Prepared),
    ...(definition.runsWithoutDatabase ? { runsWithoutDatabase: definition.runsWithoutDatabase } : {}),
    ...(definition.createsDatabase ? { createsDatabase: true as const } : {}),
  };
}

/** Exactly one handler per channel: a missing or extra entry does not compile. */
export type HandlerTable = { readonly [K in ChannelName]: RegisteredHandler<Channels[K]> };
