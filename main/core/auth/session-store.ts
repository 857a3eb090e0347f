/**
 * Sessions live in main, in memory: a restart signs everyone out. The session token is a secret
 * the transport keeps (Electron: per window in main; browser host: an HttpOnly cookie); the
 * renderer never sees it. A new token is issued at every sign-in, re-authentication and unlock.
 */
import { createHash } from 'node:crypto';
import type { Role } from '../../../shared/permissions.js';
import type { Clock, IdSource, RandomSource } from '../platform/sources.js';
import type { UserSigner } from './user-keys.js';

export interface SessionPolicy {
  /** Inactivity after which the session locks (default 15 minutes). */
  readonly inactivityMs: number;
  /** Absolute lifetime after which the session ends (default 12 hours). */
  readonly absoluteMs: number;
  /** How long a re-authentication unlocks sensitive channels (default 5 minutes). */
  readonly reauthWindowMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = {
  inactivityMs: 15 * 60_000,
  absoluteMs: 12 * 60 * 60_000,
  reauthWindowMs: 5 * 60_000,
};

/** A signed-in user's session. */
export interface Session {
  /** Public id, safe for the audit log; the token is never logged. */
  readonly id: string;
  readonly userId: string;
  readonly role: Role;
  readonly allBranches: boolean;
  readonly branchIds: readonly string[];
  readonly createdAt: number;
  csrfToken: string;
  lastActivityAt: number;
  reauthAt: number;
  lockedAt: number | null;
  tokenDigest: string;
  /**
   * The user's signing key, opened with their password at sign-in (user-keys.ts); it signs what
   * the session records. Null for a user made before signing keys, until they get one.
   */
  signer: UserSigner | null;
}

export type SessionResolution =
  | { readonly kind: 'active'; readonly session: Session }
  | { readonly kind: 'locked'; readonly session: Session }
  | { readonly kind: 'expired' }
  | { readonly kind: 'none' };

/** A new token and the session it belongs to. */
export interface SessionGrant {
  readonly token: string;
  readonly session: Session;
}

function digest(token: string): string {
  // Sessions are looked up by a digest so the map never holds raw tokens and lookups do not
  // leak token prefixes through timing.
  return createHash('sha256').update(token).digest('hex');
}

/** In-memory session table. */
export class SessionStore {
  private readonly byDigest = new Map<string, Session>();

  constructor(
    private readonly clock: Clock,
    private readonly random: RandomSource,
    private readonly ids: IdSource,
    readonly policy: SessionPolicy = DEFAULT_SESSION_POLICY,
  ) {}

  private newToken(): string {
    return this.random.bytes(32).toString('base64url');
  }

  /**
   * A session for a user who just proved their password. It is not active until `activate`,
   * which the caller runs after its transaction (and audit entry) committed.
   */
  create(
    user: { id: string; role: Role; allBranches: boolean; branchIds: readonly string[] },
    signer: UserSigner | null = null,
  ): SessionGrant {
    const now = this.clock.now();
    const token = this.newToken();
    const session: Session = {
      id: this.ids.next(),
      userId: user.id,
      role: user.role,
      allBranches: user.allBranches,
      branchIds: [...user.branchIds],
      createdAt: now,
      csrfToken: this.newToken(),
      lastActivityAt: now,
      reauthAt: now,
      lockedAt: null,
      tokenDigest: digest(token),
      signer,
    };
    return { token, session };
  }

  /** Makes a created session usable. */
  activate(grant: SessionGrant): void {
    this.byDigest.set(grant.session.tokenDigest, grant.session);
  }

  /** Finds the session of a token and its state now; locks it when idle too long. */
  resolve(token: string | undefined): SessionResolution {
    if (!token) return { kind: 'none' };
    const session = this.byDigest.get(digest(token));
    if (!session) return { kind: 'none' };
    const now = this.clock.now();
    if (now - session.createdAt >= this.policy.absoluteMs) {
      this.byDigest.delete(session.tokenDigest);
      return { kind: 'expired' };
    }
    if (session.lockedAt === null && now - session.lastActivityAt >= this.policy.inactivityMs) {
      session.lockedAt = session.lastActivityAt + this.policy.inactivityMs;
    }
    return session.lockedAt === null ? { kind: 'active', session } : { kind: 'locked', session };
  }

  /** Records activity, which postpones the inactivity lock. */
  touch(session: Session): void {
    session.lastActivityAt = this.clock.now();
  }

  /** True when the last re-authentication is recent enough for a sensitive channel. */
  reauthFresh(session: Session): boolean {
    return this.clock.now() - session.reauthAt < this.policy.reauthWindowMs;
  }

  /** When the current re-authentication stops covering sensitive channels. */
  reauthValidUntil(session: Session): number {
    return session.reauthAt + this.policy.reauthWindowMs;
  }

  /** When the session ends regardless of activity. */
  expiresAt(session: Session): number {
    return session.createdAt + this.policy.absoluteMs;
  }

  /**
   * New token and CSRF token after a successful re-authentication or unlock; `apply` (run after
   * the commit) swaps them in, unlocks the session and marks the re-authentication fresh.
   */
  renew(session: Session): { token: string; csrfToken: string; apply(): void } {
    const token = this.newToken();
    const csrfToken = this.newToken();
    return {
      token,
      csrfToken,
      apply: () => {
        const now = this.clock.now();
        this.byDigest.delete(session.tokenDigest);
        session.tokenDigest = digest(token);
        session.csrfToken = csrfToken;
        session.lockedAt = null;
        session.lastActivityAt = now;
        session.reauthAt = now;
        this.byDigest.set(session.tokenDigest, session);
      },
    };
  }

  /** How many sessions a user has, other than one. */
  countForUser(userId: string, except?: Session): number {
    let count = 0;
    for (const session of this.byDigest.values()) if (session.userId === userId && session !== except) count++;
    return count;
  }

  /** Locks the session now. */
  lock(session: Session): void {
    session.lockedAt ??= this.clock.now();
  }

  /** Ends one session. */
  end(session: Session): void {
    this.byDigest.delete(session.tokenDigest);
  }

  /** Ends every session of every user (this device was revoked); returns how many ended. */
  endAll(): number {
    const ended = this.byDigest.size;
    this.byDigest.clear();
    return ended;
  }

  /** Ends every session of a user except one; returns how many ended. */
  endAllForUser(userId: string, except?: Session): number {
    let ended = 0;
    for (const [key, session] of this.byDigest) {
      if (session.userId === userId && session !== except) {
        this.byDigest.delete(key);
        ended++;
      }
    }
    return ended;
  }
}
