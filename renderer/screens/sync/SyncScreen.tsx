/**
 * Sync: whether this clinic syncs with its server, when it last did, what is waiting, refused or
 * in conflict, and the last error in words; "Sync now" for roles that change patients; for an
 * Admin, connecting the clinic to a server and codes for other computers. sync.status is an
 * audited call, so the screen asks on opening, after a round and on "Refresh", never on a timer.
 */
import { useCallback, useEffect, useState } from 'react';
import type { ChannelOutput } from '../../../shared/api/registry.js';
import { errorMessage } from '../../api/api-error.js';
import { useApi, useSession } from '../../app/contexts.js';
import { useHeadingFocus } from '../../app/use-heading-focus.js';
import type { Navigate } from '../../app/views.js';
import { Progress } from '../../components/Progress.js';
import { ErrorMessage, Loading, Notice } from '../../components/status.js';
import { formatInstant } from '../../lib/format.js';
import { ConnectServerDialog } from './ConnectServerDialog.js';
import { EnrollmentCodePanel } from './EnrollmentCodePanel.js';
import { countOf, syncErrorWords } from './sync-words.js';

type SyncStatus = ChannelOutput<'sync.status'>;
type SyncRound = ChannelOutput<'sync.now'>;

/** What one round did, in a sentence. */
export function roundSummary(round: SyncRound): string {
  if (!round.connected) return 'Nothing was sent: this clinic is not connected to a sync server.';
  const counts =
    `Sent ${countOf(round.pushed, 'change')}, received ${countOf(round.pulled, 'change')} ` +
    `(${round.applied} applied here)` +
    (round.refused > 0 ? `, ${countOf(round.refused, 'change')} refused by the server` : '') +
    (round.conflicts > 0 ? `, ${countOf(round.conflicts, 'new conflict')}` : '') +
    '.';
  return round.ok ? `Sync finished. ${counts}` : `Sync stopped before the end. ${counts}`;
}

export function SyncScreen({ navigate }: { readonly navigate: Navigate }) {
  const api = useApi();
  const { can } = useSession();
  const headingRef = useHeadingFocus();
  const [status, setStatus] = useState<SyncStatus | null>(null);
  const [loadError, setLoadError] = useState('');
  const [syncing, setSyncing] = useState(false);
  const [round, setRound] = useState<SyncRound | null>(null);
  const [roundError, setRoundError] = useState('');
  const [notice, setNotice] = useState('');
  const [connecting, setConnecting] = useState(false);

  const load = useCallback(async () => {
    try {
      setStatus(await api.invoke('sync.status', {}));
      setLoadError('');
    } catch (failure) {
      setLoadError(errorMessage(failure));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load]);

  const syncNow = useCallback(async () => {
    setSyncing(true);
    setRoundError('');
    setRound(null);
    try {
      setRound(await api.invoke('sync.now', {}));
    } catch (failure) {
      setRoundError(errorMessage(failure));
    } finally {
      setSyncing(false);
      await load();
    }
  }, [api, load]);

  const mayConnect = can('users.manage');
  const maySync = can('patients.write');

  return (
    <section className="page" aria-labelledby="sync-heading">
      <div className="page-header">
        <h1 id="sync-heading" ref={headingRef} tabIndex={-1}>
          Sync
        </h1>
        <div className="page-actions">
          <button type="button" className="button" onClick={() => void load()} disabled={syncing}>
            Refresh
          </button>
          {maySync && status?.connected === true && (
            <button type="button" className="button primary" onClick={() => void syncNow()} disabled={syncing}>
              {syncing ? 'Syncing…' : 'Sync now'}
            </button>
          )}
        </div>
      </div>
      <Notice>{notice}</Notice>
      {syncing && (
        <Progress
          label="Syncing with the server…"
          detail="Sending this computer’s changes, then receiving the other computers’."
        />
      )}
      {round !== null && (
        <p className={round.ok ? 'message message-notice' : 'message message-error'} role="status">
          {roundSummary(round)}
          {round.error !== null && ` ${syncErrorWords(round.error)}`}
        </p>
      )}
      <ErrorMessage>{roundError}</ErrorMessage>
      {status === null ? (
        loadError ? (
          <ErrorMessage>{loadError}</ErrorMessage>
        ) : (
          <Loading label="Loading the sync state…" />
        )
      ) : status.connected ? (
        <ConnectedState status={status} navigate={navigate} />
      ) : (
        <section className="panel" aria-labelledby="not-connected-heading">
          <h2 id="not-connected-heading">Not connected</h2>
          <p>
            This clinic works on this computer only. Connect it to a sync server to share patients with the clinic’s
            other computers and keep a copy off this computer.
          </p>
          {mayConnect ? (
            <div className="actions actions-start">
              <button type="button" className="button primary" onClick={() => setConnecting(true)}>
                Connect to a sync server
              </button>
            </div>
          ) : (
            <p className="muted">An administrator can connect the clinic.</p>
          )}
        </section>
      )}
      {mayConnect && status?.connected === true && status.serverUrl !== null && (
        <EnrollmentCodePanel serverUrl={status.serverUrl} />
      )}
      {connecting && (
        <ConnectServerDialog
          onCancel={() => setConnecting(false)}
          onConnected={(connected) => {
            setConnecting(false);
            setNotice(
              `Connected to ${connected.serverUrl}. ${countOf(connected.queued, 'record')} of this clinic queued for upload.`,
            );
            // Upload at once: the clinic is only shared once its records reach the server.
            if (maySync) void syncNow();
            else void load();
          }}
        />
      )}
    </section>
  );
}

function ConnectedState({ status, navigate }: { readonly status: SyncStatus; readonly navigate: Navigate }) {
  const { can } = useSession();
  const stateLabel = status.online ? 'Online' : status.lastSyncAt === null ? 'Not synced yet' : 'Offline';
  return (
    <section className="panel" aria-labelledby="sync-state-heading">
      <h2 id="sync-state-heading">
        Connection <span className={`state state-${status.online ? 'ok' : 'warn'}`}>{stateLabel}</span>
      </h2>
      {status.lastError !== null && (
        <p className="message message-error" data-testid="sync-last-error">
          {syncErrorWords(status.lastError)}
        </p>
      )}
      <dl className="details sync-details">
        <div>
          <dt>Server</dt>
          <dd className="mono">{status.serverUrl}</dd>
        </div>
        <div>
          <dt>Last sync</dt>
          <dd>{status.lastSyncAt === null ? 'Never' : formatInstant(status.lastSyncAt)}</dd>
        </div>
        <div>
          <dt>Last attempt</dt>
          <dd>{status.lastAttemptAt === null ? 'Never' : formatInstant(status.lastAttemptAt)}</dd>
        </div>
        <div>
          <dt>Waiting to be sent</dt>
          <dd data-testid="sync-pending">{countOf(status.pending, 'change')}</dd>
        </div>
        <div>
          <dt>Refused by the server</dt>
          <dd data-testid="sync-refused">{countOf(status.refused, 'change')}</dd>
        </div>
        <div>
          <dt>Conflicts</dt>
          <dd data-testid="sync-conflicts">{countOf(status.conflicts, 'conflict')}</dd>
        </div>
      </dl>
      {!can('patients.write') && (
        <p className="muted">
          Sync runs on its own on this computer; starting a round needs a role that registers patients.
        </p>
      )}
      {(status.refused > 0 || status.conflicts > 0) && can('patients.read') && (
        <div className="actions actions-start">
          <button type="button" className="button" onClick={() => navigate({ name: 'conflicts' })}>
            Review conflicts and refused changes
          </button>
        </div>
      )}
    </section>
  );
}
