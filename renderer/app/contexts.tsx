/** React contexts: the API client, and who is signed in with what they may do. */
import { createContext, useContext } from 'react';
import type { ChannelOutput } from '../../shared/api/registry.js';
import type { Permission } from '../../shared/permissions.js';
import type { SessionUser } from '../../shared/schemas/users.js';
import type { Api } from '../api/client.js';

/** A session grant: what sign-in, re-authentication and unlock answer. */
export type SessionGrant = ChannelOutput<'auth.signIn'>;

export const ApiContext = createContext<Api | null>(null);

/** The API client of this window. */
export function useApi(): Api {
  const api = useContext(ApiContext);
  if (api === null) throw new Error('useApi outside ApiContext');
  return api;
}

export interface SignedInSession {
  readonly user: SessionUser;
  /**
   * Whether the role holds a permission (shared/permissions.ts). Only decides what is offered:
   * main refuses what the role may not do whatever the UI shows.
   */
  can(permission: Permission): boolean;
}

export const SessionContext = createContext<SignedInSession | null>(null);

/** The signed-in user; only inside the signed-in part of the app. */
export function useSession(): SignedInSession {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside SessionContext');
  return session;
}
