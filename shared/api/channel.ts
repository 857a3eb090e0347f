/**
 * A channel is one operation of the API, declared once here and used by every transport (Electron
 * IPC, the browser host's HTTP) and by the docs. Its handler in main/core is registered against
 * this contract, so a handler whose types drift from the schemas does not compile.
 */
import type { z } from 'zod';
import type { ChannelPermission, Permission } from '../permissions.js';
import type { EntityType, LegalBasis, Purpose } from './audit-purpose.js';

/** Everything the pipeline needs to know about one channel. */
export interface ChannelContract<
  Name extends string = string,
  Input extends z.ZodType = z.ZodType,
  Output extends z.ZodType = z.ZodType,
> {
  readonly name: Name;
  readonly summary: string;
  readonly input: Input;
  readonly output: Output;
  /** The permission a caller needs; PUBLIC for the few channels that run without a session. */
  readonly permission: ChannelPermission;
  /** Needs a re-authentication within the last few minutes (sensitive operations). */
  readonly reauth: boolean;
  /** May be called while the session is locked by inactivity (unlock, sign out, who am I). */
  readonly allowLocked: boolean;
  /** Changes clinic data; such writes are committed with synchronous=FULL. */
  readonly writes: boolean;
  readonly audit: {
    readonly action: string;
    readonly entityType: EntityType;
    readonly purpose: Purpose;
    readonly legalBasis: LegalBasis;
  };
  /** The branch an input addresses, checked against the caller's branch scope before the handler. */
  readonly branchOf?: (input: z.infer<Input>) => string | undefined;
  /** Removes what the caller's role may not see; runs before the output is validated. */
  readonly shape?: (output: z.infer<Output>, can: (permission: Permission) => boolean) => z.infer<Output>;
}

/** Options of a channel declaration; permission has no default on purpose. */
export interface ChannelDeclaration<Name extends string, Input extends z.ZodType, Output extends z.ZodType> {
  readonly name: Name;
  readonly summary: string;
  readonly input: Input;
  readonly output: Output;
  readonly permission: ChannelPermission;
  readonly reauth?: boolean;
  readonly allowLocked?: boolean;
  readonly writes: boolean;
  readonly audit: ChannelContract['audit'];
  readonly branchOf?: (input: z.infer<Input>) => string | undefined;
  readonly shape?: (output: z.infer<Output>, can: (permission: Permission) => boolean) => z.infer<Output>;
}

const CHANNEL_NAME = /^[a-z][a-zA-Z]*\.[a-z][a-zA-Z]*$/;

/** Declares a channel. Throws when the name is malformed or the permission is missing. */
export function defineChannel<Name extends string, Input extends z.ZodType, Output extends z.ZodType>(
  declaration: ChannelDeclaration<Name, Input, Output>,
): ChannelContract<Name, Input, Output> {
  if (!CHANNEL_NAME.test(declaration.name)) {
    throw new Error(`channel name "${declaration.name}" is not of the form group.verb`);
  }
  // Runtime check as well as the type: contracts can be built from data (tests, plugins).
  if (typeof declaration.permission !== 'string' || declaration.permission.length === 0) {
    throw new Error(`channel "${declaration.name}" declares no permission`);
  }
  if (declaration.permission === 'public' && declaration.reauth) {
    throw new Error(`channel "${declaration.name}" is public and cannot require re-authentication`);
  }
  return {
    ...declaration,
    reauth: declaration.reauth ?? false,
    allowLocked: declaration.allowLocked ?? false,
  };
}

/** Collects channels into a registry keyed by name; a duplicate name throws at start-up. */
export function buildChannelRegistry<const C extends readonly ChannelContract[]>(
  list: C,
): { readonly [K in C[number] as K['name']]: K } {
  const registry: Record<string, ChannelContract> = {};
  for (const channel of list) {
    if (Object.hasOwn(registry, channel.name)) {
      throw new Error(`channel "${channel.name}" is declared twice`);
    }
    registry[channel.name] = channel;
  }
  return registry as { readonly [K in C[number] as K['name']]: K };
}
