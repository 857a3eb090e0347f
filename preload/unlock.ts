/**
 * The preload of the unlock prompt (app://unlock/). The page has no script of its own: this
 * preload, in its isolated world, fills in the texts for what main asks, reads the form and
 * sends it. Nothing is exposed to the page. Bundled to dist/preload/unlock.cjs.
 */
import { ipcRenderer } from 'electron';
import { type UnlockMode, type UnlockRequest, answerFor, createUnlockClient } from './unlock-client.js';

const TEXTS: Readonly<Record<UnlockMode, { title: string; intro: string; submit: string }>> = {
  unlock: {
    title: 'Unlock Chairside',
    intro: 'Enter the database passphrase of this clinic.',
    submit: 'Unlock',
  },
  create: {
    title: 'Protect the clinic database',
    intro:
      'This computer has no system keystore Chairside can use, so the clinic database is protected by a ' +
      'passphrase. Choose one of at least 10 characters and keep it safe: without it, or the recovery key ' +
      'you will get when you set up the clinic, the data cannot be read.',
    submit: 'Continue',
  },
  recover: {
    title: 'Recover access',
    intro: 'Enter the recovery key printed when the clinic was set up.',
    submit: 'Recover',
  },
};

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the unlock page has no #${id}`);
  return found as T;
}

window.addEventListener('DOMContentLoaded', () => {
  const client = createUnlockClient(ipcRenderer);
  const form = element<HTMLFormElement>('unlock-form');
  const inputs = {
    recoveryKey: element<HTMLInputElement>('recovery-key'),
    passphrase: element<HTMLInputElement>('passphrase'),
    confirm: element<HTMLInputElement>('confirm'),
  };
  const submit = element<HTMLButtonElement>('submit');
  const useRecovery = element<HTMLButtonElement>('use-recovery');
  const message = element<HTMLElement>('message');
  let current: UnlockRequest | null = null;
  let mode: UnlockMode = 'unlock';

  const render = (request: UnlockRequest, shownMode: UnlockMode = request.mode): void => {
    current = request;
    mode = shownMode;
    const texts = TEXTS[shownMode];
    const newPassphrase = shownMode === 'create' || (shownMode === 'recover' && request.recoverNeedsPassphrase);
    element('title').textContent = texts.title;
    element('intro').textContent =
      shownMode === 'recover' && request.recoverNeedsPassphrase
        ? `${texts.intro} Then choose a new passphrase.`
        : texts.intro;
    element('passphrase-label').textContent = newPassphrase ? 'New database passphrase' : 'Database passphrase';
    element('recovery-key-field').hidden = shownMode !== 'recover';
    element('passphrase-field').hidden = !(shownMode === 'unlock' || newPassphrase);
    element('confirm-field').hidden = !newPassphrase;
    useRecovery.hidden = shownMode !== 'unlock';
    submit.textContent = texts.submit;
    submit.disabled = false;
    message.textContent = request.message ?? '';
    for (const input of Object.values(inputs)) input.value = '';
    (shownMode === 'recover' ? inputs.recoveryKey : inputs.passphrase).focus();
  };

  useRecovery.addEventListener('click', () => {
    if (current !== null) render({ ...current, message: null }, 'recover');
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const answer = answerFor(mode, {
      recoveryKey: inputs.recoveryKey.value,
      passphrase: inputs.passphrase.value,
      confirm: inputs.confirm.value,
    });
    for (const input of Object.values(inputs)) input.value = '';
    submit.disabled = true;
    message.textContent = 'Checking…';
    client
      .submit(answer)
      .then((reply) => {
        if (reply.done) message.textContent = 'Opening the clinic…';
        else render(reply.request);
      })
      .catch(() => {
        submit.disabled = false;
        message.textContent = 'Something went wrong; please try again.';
      });
  });

  client
    .state()
    .then((request) => {
      if (request !== null) render(request);
    })
    .catch(() => {
      message.textContent = 'Something went wrong; please close this window and start Chairside again.';
    });
});
