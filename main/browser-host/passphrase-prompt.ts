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
