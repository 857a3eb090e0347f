import { describe, expect, it } from 'vitest';
import { IPC_UNLOCK_STATE, IPC_UNLOCK_SUBMIT, answerFor, createUnlockClient, parseRequest } from './unlock-client.js';

/** A recording stand-in for Electron's ipcRenderer: records invokes and answers with what the test gives. */
function recordingIpcRenderer(answers: Record<string, unknown>) {
  const invoked: unknown[][] = [];
  return {
    invoked,
    ipc: {
      async invoke(channel: string, ...args: unknown[]) {
        invoked.push([channel, ...args]);
        return answers[channel];
      },
    },
  };
}

const fields = { recoveryKey: 'ABCD-EFGH', passphrase: 'correct horse battery staple', confirm: 'again' };

describe('unlock prompt client', () => {
  it('sends only the fields the mode uses', () => {
    expect(answerFor('unlock', fields)).toEqual({ mode: 'unlock', passphrase: fields.passphrase });
    expect(answerFor('create', fields)).toEqual({ mode: 'create', passphrase: fields.passphrase, confirm: 'again' });
    expect(answerFor('recover', fields)).toEqual({ mode: 'recover', ...fields });
  });

  it('reads what main asks for, and ignores anything malformed', async () => {
    const request = {
      mode: 'recover',
      recoverNeedsPassphrase: true,
      message: 'The recovery key does not open this clinic.',
    };
    const { ipc, invoked } = recordingIpcRenderer({ [IPC_UNLOCK_STATE]: request });
    expect(await createUnlockClient(ipc).state()).toEqual(request);
    expect(invoked).toEqual([[IPC_UNLOCK_STATE]]);
    expect(parseRequest({ mode: 'format-disk', recoverNeedsPassphrase: false, message: null })).toBeNull();
    expect(parseRequest({ mode: 'unlock', recoverNeedsPassphrase: 'yes', message: null })).toBeNull();
  });

  it('submits an answer and reports whether to close or ask again', async () => {
    const done = recordingIpcRenderer({ [IPC_UNLOCK_SUBMIT]: { done: true } });
    const answer = answerFor('unlock', fields);
    expect(await createUnlockClient(done.ipc).submit(answer)).toEqual({ done: true });
    expect(done.invoked).toEqual([[IPC_UNLOCK_SUBMIT, answer]]);

    const request = { mode: 'unlock', recoverNeedsPassphrase: false, message: 'The database passphrase is incorrect.' };
    const again = recordingIpcRenderer({ [IPC_UNLOCK_SUBMIT]: { done: false, request } });
    expect(await createUnlockClient(again.ipc).submit(answer)).toEqual({ done: false, request });
  });
});
