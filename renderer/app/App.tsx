/**
 * The top of the UI: first run, sign-in, and the signed-in app with its lock screen and
 * re-authentication prompt. It owns the session as the renderer knows it (who, and the
 * inactivity timeout of the latest grant) and gives the API client the prompts it needs.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { roleHasPermission } from '../../shared/permissions.js';
import type { SessionUser } from '../../shared/schemas/users.js';
import { ApiError, SESSION_GONE_CODES, errorMessage } from '../api/api-error.js';
import type { ApiClient } from '../api/client.js';
import { ErrorMessage, Loading } from '../components/status.js';
import { LockScreen } from '../screens/start/LockScreen.js';
import { ReauthDialog } from '../screens/start/ReauthDialog.js';
import { RecoveryKeyScreen } from '../screens/start/RecoveryKeyScreen.js';
import { SetupScreen } from '../screens/start/SetupScreen.js';
import { SignInScreen } from '../screens/start/SignInScreen.js';
import { ApiContext, type SessionGrant, SessionContext, type SignedInSession } from './contexts.js';
import { START_PLACE, Shell, type ShellPlace } from './Shell.js';
import { useInactivityTimer } from './use-inactivity-timer.js';

/**
 * The session's inactivity timeout, kept in this tab's sessionStorage so a reload can run the
 * screen's inactivity lock again: a clinic setting, not a secret (no token is ever stored).
 */
const INACTIVITY_KEY = 'chairside.inactivityTimeoutMs';

function rememberInactivityTimeout(timeoutMs: number): void {
  try {
    window.sessionStorage.setItem(INACTIVITY_KEY, String(timeoutMs));
  } catch {
    // Storage refused (a locked-down browser): a reload then asks for the password.
  }
}

/** The timeout a grant in this tab gave, or null (none yet, or storage unreadable). */
function rememberedInactivityTimeout(): number | null {
  try {
    const stored = Number(window.sessionStorage.getItem(INACTIVITY_KEY) ?? NaN);
    return Number.isInteger(stored) && stored > 0 ? stored : null;
  } catch {
    return null;
  }
}

/** A call waiting for the password prompt: resolve(true) retries it. */
interface ReauthRequest {
  resolve(confirmed: boolean): void;
}

type Phase =
  | { readonly kind: 'loading' }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'setup' }
  | {
      readonly kind: 'recovery';
      readonly recoveryKey: string;
      readonly username: string;
      /** What the sign-in screen says next (a new clinic, or a joined one). */
      readonly notice: string;
    }
  | { readonly kind: 'signIn'; readonly notice: string | null; readonly username: string }
  | {
      readonly kind: 'signedIn';
      readonly user: SessionUser;
      /** Null after resuming a session in a tab that had no grant yet; the unlock grant gives it. */
      readonly inactivityTimeoutMs: number | null;
      readonly locked: boolean;
    };

export function App({ client }: { readonly client: ApiClient }) {
  const [phase, setPhase] = useState<Phase>({ kind: 'loading' });
  const [clinicName, setClinicName] = useState<string | null>(null);
  const [bootAttempt, setBootAttempt] = useState(0);
  const [reauthRequest, setReauthRequest] = useState<ReauthRequest | null>(null);
  const [place, setPlace] = useState<ShellPlace>(START_PLACE);
  const reauthRef = useRef<ReauthRequest | null>(null);

  useEffect(() => {
    let cancelled = false;
    void (async () => {
      try {
        const status = await client.invoke('setup.status', {});
        if (cancelled) return;
        setClinicName(status.clinicName);
        if (status.state === 'new') return setPhase({ kind: 'setup' });
        if (client.transport.canResumeSession) {
          // One question at start-up (a reload keeps the session: main holds it per window in the
          // desktop app, the cookie in the browser); never polled.
          const session = await client.invoke('auth.session', {}).catch(() => null);
          if (cancelled) return;
          if (session !== null) {
            // Main says whether the session went idle. Unlocked only with a known inactivity
            // timeout, so the screen locks on its own again; otherwise the password is asked
            // before anything of the clinic is shown (the unlock grant carries the timeout).
            const inactivityTimeoutMs = rememberedInactivityTimeout();
            const locked = session.state === 'locked' || inactivityTimeoutMs === null;
            return setPhase({ kind: 'signedIn', user: session.user, inactivityTimeoutMs, locked });
          }
        }
        setPhase({ kind: 'signIn', notice: null, username: '' });
      } catch (error) {
        if (!cancelled) setPhase({ kind: 'failed', message: errorMessage(error) });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [client, bootAttempt]);

  const openReauth = useCallback((request: ReauthRequest) => {
    reauthRef.current = request;
    setReauthRequest(request);
  }, []);

  const closeReauth = useCallback((confirmed: boolean) => {
    reauthRef.current?.resolve(confirmed);
    reauthRef.current = null;
    setReauthRequest(null);
  }, []);

  /** Back to sign-in; a pending prompt is answered "no" so its call fails instead of hanging. */
  const endSession = useCallback(
    (notice: string | null, keepUsername: boolean) => {
      closeReauth(false);
      setPlace(START_PLACE);
      setPhase((previous) => ({
        kind: 'signIn',
        notice,
        username: keepUsername && previous.kind === 'signedIn' ? previous.user.username : '',
      }));
    },
    [closeReauth],
  );

  const lockScreen = useCallback(
    (tellMain: boolean) => {
      setPhase((previous) => (previous.kind === 'signedIn' ? { ...previous, locked: true } : previous));
      if (!tellMain) return;
      client.invoke('auth.lock', {}).catch((error: unknown) => {
        if (error instanceof ApiError && SESSION_GONE_CODES.has(error.code)) endSession(error.message, true);
      });
    },
    [client, endSession],
  );

  const signedIn = phase.kind === 'signedIn';
  useEffect(() => {
    if (!signedIn) return undefined;
    client.setSessionHooks({
      confirmPassword: () => new Promise<boolean>((resolve) => openReauth({ resolve })),
      sessionLocked: () => {
        // The lock unmounts every screen, the caller's too: its call is answered "no" rather than
        // run after the unlock into a screen that is gone (the screen runs its calls again when it
        // comes back). Calls from the lock screen itself are auth.* and never come here.
        lockScreen(false);
        return Promise.resolve(false);
      },
      sessionEnded: (error) => endSession(error.message, true),
    });
    return () => client.setSessionHooks(null);
  }, [client, signedIn, lockScreen, endSession, openReauth]);

  const idleTimeout = phase.kind === 'signedIn' && !phase.locked ? phase.inactivityTimeoutMs : null;
  const onIdle = useCallback(() => lockScreen(true), [lockScreen]);
  useInactivityTimer(idleTimeout, onIdle);

  const user = phase.kind === 'signedIn' ? phase.user : null;
  const session = useMemo<SignedInSession | null>(
    () => (user === null ? null : { user, can: (permission) => roleHasPermission(user.role, permission) }),
    [user],
  );

  const acceptGrant = useCallback((grant: SessionGrant) => {
    rememberInactivityTimeout(grant.inactivityTimeoutMs);
    setPhase({ kind: 'signedIn', user: grant.user, inactivityTimeoutMs: grant.inactivityTimeoutMs, locked: false });
  }, []);

  const signOut = useCallback(async () => {
    // Signing out is best effort: whatever main answers, this window forgets the session.
    await client.invoke('auth.signOut', {}).catch(() => undefined);
    endSession(null, false);
  }, [client, endSession]);

  let content;
  switch (phase.kind) {
    case 'loading':
      content = (
        <main className="centered-page">
          <Loading label="Starting Chairside…" />
        </main>
      );
      break;
    case 'failed':
      content = (
        <main className="centered-page">
          <div className="card narrow">
            <h1>Chairside could not start</h1>
            <ErrorMessage>{phase.message}</ErrorMessage>
            <button type="button" className="button primary" onClick={() => setBootAttempt((n) => n + 1)}>
              Try again
            </button>
          </div>
        </main>
      );
      break;
    case 'setup':
      content = (
        <SetupScreen
          onCreated={(created) => {
            setClinicName(created.clinicName);
            setPhase({
              kind: 'recovery',
              recoveryKey: created.recoveryKey,
              username: created.username,
              notice: 'The clinic is ready. Sign in with the administrator account you just created.',
            });
          }}
          onJoined={(joined) => {
            setClinicName(joined.clinicName);
            setPhase({
              kind: 'recovery',
              recoveryKey: joined.recoveryKey,
              username: '',
              notice: `This computer has joined the clinic and stored ${joined.applied} ${
                joined.applied === 1 ? 'record' : 'records'
              } from the sync server. Sign in with your usual username and password.`,
            });
          }}
        />
      );
      break;
    case 'recovery':
      content = (
        <RecoveryKeyScreen
          clinicName={clinicName}
          recoveryKey={phase.recoveryKey}
          onStored={() => setPhase({ kind: 'signIn', notice: phase.notice, username: phase.username })}
        />
      );
      break;
    case 'signIn':
      content = (
        <SignInScreen
          clinicName={clinicName}
          initialUsername={phase.username}
          notice={phase.notice}
          onSignedIn={acceptGrant}
        />
      );
      break;
    case 'signedIn':
      content = (
        <SessionContext.Provider value={session}>
          {/* Locked, nothing of the app stays in the page (developer tools could read a patient's
              name or alerts behind the lock), so the shell is unmounted, not just covered. */}
          {!phase.locked && (
            <Shell
              clinicName={clinicName}
              place={place}
              onPlace={setPlace}
              onLock={() => lockScreen(true)}
              onSignOut={() => void signOut()}
            />
          )}
          {phase.locked && (
            <LockScreen
              user={phase.user}
              onUnlocked={acceptGrant}
              onSwitchUser={() => void signOut()}
              onSessionEnded={(message) => endSession(message, true)}
            />
          )}
          {reauthRequest !== null && !phase.locked && (
            <ReauthDialog onDone={closeReauth} onSessionEnded={(message) => endSession(message, true)} />
          )}
        </SessionContext.Provider>
      );
      break;
  }
  return <ApiContext.Provider value={client}>{content}</ApiContext.Provider>;
}
