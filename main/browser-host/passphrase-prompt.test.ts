/** Asking for the database passphrase again after a typo, instead of ending the start. */
import { describe, expect, it } from 'vitest';
import { StartupError } from './host-settings.js';
import { PASSPHRASE_ATTEMPTS, askForPassphrase } from './passphrase-prompt.js';

/** Answers the questions in order and records them. */
function scripted(answers: string[]) {
  const asked: string[] = [];
  return {
    asked,
    ask: (question: string) => {
      asked.push(question);
      const answer = answers.shift();
      return answer === undefined ? Promise.reject(new Error('asked once too often')) : Promise.resolve(answer);
    },
  };
}

const tooShort = (answer: string) => (answer.length < 10 ? 'The passphrase must have at least 10 characters.' : null);

describe('askForPassphrase', () => {
  it('asks again after a passphrase that is too short, saying why', async () => {
    const { ask, asked } = scripted(['short', 'long enough passphrase']);
    const told: string[] = [];
    const chosen = await askForPassphrase(ask, {
      question: 'Passphrase: ',
      confirm: false,
      check: tooShort,
      tell: (line) => told.push(line),
    });
    expect(chosen).toBe('long enough passphrase');
    expect(asked).toEqual(['Passphrase: ', 'Passphrase: ']);
    expect(told).toEqual(['The passphrase must have at least 10 characters. Please try again.']);
  });

  it('asks for the pair again when the confirmation differs', async () => {
    const { ask, asked } = scripted(['first passphrase', 'first passphrasf', 'second passphrase', 'second passphrase']);
    const told: string[] = [];
    const chosen = await askForPassphrase(ask, {
      question: 'Choose: ',
      confirm: true,
      check: tooShort,
      tell: (l) => told.push(l),
    });
    expect(chosen).toBe('second passphrase');
    expect(asked).toEqual(['Choose: ', 'Type it again: ', 'Choose: ', 'Type it again: ']);
    expect(told).toEqual(['The two passphrases differ. Please try again.']);
  });

  it(`gives up after ${PASSPHRASE_ATTEMPTS} refused answers with the reason`, async () => {
    const { ask, asked } = scripted(['a', 'b', 'c', 'never asked for']);
    const attempt = askForPassphrase(ask, { question: 'P: ', confirm: false, check: tooShort, tell: () => undefined });
    await expect(attempt).rejects.toThrow(StartupError);
    await expect(attempt).rejects.toThrow('The passphrase must have at least 10 characters.');
    expect(asked).toHaveLength(PASSPHRASE_ATTEMPTS);
  });
});
