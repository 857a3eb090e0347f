/** Asks for the database passphrase on an interactive terminal without echoing it. */
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { StartupError } from './host-settings.js';

/** Reads one line from the terminal; what is typed is not shown. Rejects on Ctrl-C or end of input. */
export function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let muted = false;
    // readline echoes through its output stream; muting it after the question hides the typing.
    const output = new Writable({
      write(chunk: Buffer | string, encoding: BufferEncoding, callback: (error?: Error | null) => void) {
        if (!muted) process.stdout.write(chunk, encoding);
        callback();
      },
    });
    const rl = createInterface({ input: process.stdin, output, terminal: true });
    let answered = false;
    rl.on('SIGINT', () => rl.close());
    rl.on('close', () => {
      process.stdout.write('\n');
      if (!answered) reject(new StartupError('No passphrase was entered.'));
    });
    rl.question(question, (answer) => {
      answered = true;
      resolve(answer);
      rl.close();
    });
    muted = true;
  });
}

/** True when a person can be asked: both stdin and stdout are a terminal. */
export function canPrompt(): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true;
}

/** How many times a person is asked before starting gives up (a typo is common, a lost passphrase is not). */
export const PASSPHRASE_ATTEMPTS = 3;

/** Asks one question and resolves with what was typed (promptHidden in use; scripted in tests). */
export type Ask = (question: string) => Promise<string>;

/**
 * Asks for a passphrase until one passes the schema's rules, at most PASSPHRASE_ATTEMPTS times;
 * with `confirm`, it must be typed twice the same (a new clinic, or a new passphrase at recovery:
 * a typo there locks the data behind a passphrase nobody knows). Why an answer was refused goes
 * to `tell`; after the last attempt the reason is thrown as a StartupError.
 */
export async function askForPassphrase(
  ask: Ask,
  options: {
    question: string;
    confirm: boolean;
    check: (answer: string) => string | null;
    tell: (line: string) => void;
  },
): Promise<string> {
  let problem = 'No passphrase was entered.';
  for (let attempt = 1; attempt <= PASSPHRASE_ATTEMPTS; attempt++) {
    const answer = await ask(options.question);
    const refused = options.check(answer);
    if (refused !== null) {
      problem = refused;
    } else if (options.confirm && (await ask('Type it again: ')) !== answer) {
      problem = 'The two passphrases differ.';
    } else {
      return answer;
    }
    if (attempt < PASSPHRASE_ATTEMPTS) options.tell(`${problem} Please try again.`);
  }
  throw new StartupError(problem);
}
