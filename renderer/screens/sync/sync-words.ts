/**
 * The sync engine's short error codes (sync.status lastError, sync.now error) in words a
 * receptionist can act on. The codes are the engine's and the sync server's fixed codes
 * (docs/sync-protocol.md, "A round" and "Errors"); an unknown one is named, never hidden.
 */

const SYNC_ERROR_WORDS: Readonly<Record<string, string>> = {
  NETWORK: 'The sync server could not be reached. Check that this computer is online; work is kept and sent later.',
  NOT_READY: 'The sync server is starting or busy. Work is kept and sent on the next round.',
  INTERNAL: 'The sync server had a problem. Work is kept and sent on the next round.',
  BAD_ANSWER: 'The sync server gave an answer this app does not understand. Work is kept; tell the administrator.',
  RATE_LIMITED: 'The sync server asked this computer to wait. Work is kept and sent later.',
  CLOCK_AHEAD:
    'This computer’s clock is ahead of the sync server’s, so some changes are held back. Check the date and time.',
  LOCAL_FAILURE:
    'A change from another computer could not be stored here. Nothing was lost; tell the administrator if it repeats.',
  UNAUTHENTICATED: 'The sync server did not recognise this computer’s sign-in. Tell the administrator.',
  DEVICE_REVOKED: 'The sync server has revoked this computer. An administrator must set it up again.',
  CLIENT_OUTDATED: 'This app is too old for the sync server. Update Chairside; your work is kept.',
  PROTOCOL_UNSUPPORTED: 'This app and the sync server speak different versions. Update Chairside; your work is kept.',
  'not-connected': 'This clinic is not connected to a sync server.',
  AUDIT_CHAIN_REJECTED:
    'The sync server refused this computer’s audit trail as altered. Patient data still syncs; tell the administrator.',
  // Security events (main/core/sync/checkpoint-pin.ts): the device refused the server for good.
  SERVER_LOG_LOST_ENTRIES:
    'Security alert: the sync server’s audit log lost entries that this computer saw. This computer has stopped syncing with that server and recorded the event. Tell the administrator; the server’s operator must find out who changed its database.',
  SERVER_LOG_INCONSISTENT:
    'Security alert: the sync server’s audit log no longer matches the entries this computer saw (rewritten, or signed by another key). This computer has stopped syncing with that server and recorded the event. Tell the administrator.',
};

/** A sync error code in plain words. */
export function syncErrorWords(code: string): string {
  return SYNC_ERROR_WORDS[code] ?? `The last sync stopped with an error (${code}). Work is kept and sent later.`;
}

/** "1 change", "3 changes". */
export function countOf(count: number, singular: string, plural = `${singular}s`): string {
  return `${count} ${count === 1 ? singular : plural}`;
}
