/**
 * `npm start` (main/start.ts) as a child process with a pty-less stdin, as a supervisor or a
 * script runs it: `--recover` re-wraps the key for a new passphrase, a wrong passphrase names a
 * command that works, and a demo run leaves no folder behind in the temp directory when stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestClinic, tempDataDir } from '../test/support/clinic-fixture.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const NEW_PASSPHRASE = 'a brand new passphrase';

/** A running `npm start`: its output so far, and its exit. */
interface StartProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr; rejects if the process ends first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
}

const running: ChildProcess[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** util-linux's `script`, which runs a command on a pseudo-terminal: how a test types at a prompt. */
const SCRIPT = '/usr/bin/script';

/**
 * Runs main/start.ts with tsx (as `npm start` does, without the prestart build) and only these
 * settings; with `terminal`, on a pseudo-terminal (through `script`) so it may ask.
 */
function start(args: string[], env: Record<string, string>, terminal = false): StartProcess {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CHAIRSIDE_')));
  const command = [process.execPath, '--import', 'tsx', 'main/start.ts', ...args];
  const [file, ...argv] = terminal ? [SCRIPT, '-qefc', command.join(' '), '/dev/null'] : command;
  const child = spawn(file!, argv, {
    cwd: REPO_ROOT,
    env: { ...inherited, CHAIRSIDE_PORT: '0', ...env },
    // stdin a pipe, not a terminal: nothing can be asked.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.push(child);
  let output = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) {
            listeners.delete(check);
            resolve(match);
          }
        };
        listeners.add(check);
        check();
        void exited.then((code) => reject(new Error(`exited (${code}) before ${pattern}: ${output}`)));
      });
    },
  };
}

const LISTENING = /Chairside browser host listening on (http:\/\/127\.0\.0\.1:\d+)/;

/** A clinic set up in its own folder, closed again; its data directory and recovery key. */
async function existingClinic(): Promise<{ dataDir: string; recoveryKey: string }> {
  const temp = tempDataDir();
  cleanups.push(() => temp.remove());
  const dataDir = join(temp.dir, 'clinic');
  const clinic = await createTestClinic({ dataDir });
  const { recoveryKey } = clinic;
  await clinic.close();
  return { dataDir, recoveryKey };
}

async function setupStatus(url: string): Promise<unknown> {
  const response = await fetch(`${url}/api/setup.status`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  return response.json();
}

describe('npm start', () => {
  it('accepts --recover: re-wraps the key for the new passphrase with the recovery key, then serves the clinic', async () => {
    const { dataDir, recoveryKey } = await existingClinic();
    const recovered = start(['--recover'], {
      CHAIRSIDE_DATA_DIR: dataDir,
      CHAIRSIDE_DB_PASSPHRASE: NEW_PASSPHRASE,
      CHAIRSIDE_RECOVERY_KEY: recoveryKey,
    });
    const [, url] = await recovered.waitFor(LISTENING);
    expect(await setupStatus(url!)).toEqual({ state: 'ready', clinicName: 'Smile Dental' });
    recovered.child.kill('SIGTERM');
    expect(await recovered.exited).toBe(0);

    // The new passphrase now opens it on a plain start.
    const plain = start([], { CHAIRSIDE_DATA_DIR: dataDir, CHAIRSIDE_DB_PASSPHRASE: NEW_PASSPHRASE });
    await plain.waitFor(LISTENING);
    plain.child.kill('SIGTERM');
    expect(await plain.exited).toBe(0);
  }, 60_000);

  it('answers a wrong passphrase with the command that recovers, and that command is accepted', async () => {
    const { dataDir } = await existingClinic();
    const wrong = start([], { CHAIRSIDE_DATA_DIR: dataDir, CHAIRSIDE_DB_PASSPHRASE: 'not the passphrase at all' });
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.output()).toContain('`npm start -- --recover`');
    expect(wrong.output()).not.toContain('listening');

    // The command it names is one npm start takes: it asks for the recovery key, not an unknown flag.
    const recover = start(['--recover'], { CHAIRSIDE_DATA_DIR: dataDir, CHAIRSIDE_DB_PASSPHRASE: NEW_PASSPHRASE });
    expect(await recover.exited).not.toBe(0);
    expect(recover.output()).toContain('CHAIRSIDE_RECOVERY_KEY (needed by --recover) is not set');
  }, 60_000);

  it.skipIf(!existsSync(SCRIPT))(
    'asks again on a terminal when the chosen passphrase is too short, instead of exiting',
    async () => {
      const temp = tempDataDir();
      cleanups.push(() => temp.remove());
      const typed = start([], { CHAIRSIDE_DATA_DIR: join(temp.dir, 'clinic') }, true);
      await typed.waitFor(/Choose a database passphrase: /);
      typed.child.stdin!.write('short\r');
      await typed.waitFor(/must have at least 10 characters\. Please try again\./);
      typed.child.stdin!.write(`${NEW_PASSPHRASE}\r`);
      await typed.waitFor(/Type it again: /);
      typed.child.stdin!.write(`${NEW_PASSPHRASE}\r`);
      const [, url] = await typed.waitFor(LISTENING);
      expect(await setupStatus(url!)).toEqual({ state: 'new', clinicName: null });
      typed.child.kill('SIGTERM');
      await typed.exited;
    },
    60_000,
  );

  it('refuses an unknown flag with the usage', async () => {
    const typo = start(['--recovr'], {});
    expect(await typo.exited).not.toBe(0);
    expect(typo.output()).toContain("Unknown option '--recovr'");
    expect(typo.output()).toContain('Usage: npm start [-- --demo | --recover]');
  }, 30_000);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`deletes the demo clinic's folder when stopped with ${signal}`, async () => {
      const demo = start(['--demo'], { CHAIRSIDE_DEMO_PATIENTS: '20' });
      const [, folder] = await demo.waitFor(/synthetic patients in (\S+) /);
      await demo.waitFor(LISTENING);
      expect(existsSync(folder!)).toBe(true);
      demo.child.kill(signal);
      expect(await demo.exited).toBe(0);
      expect(existsSync(folder!), `${folder} after ${signal}`).toBe(false);
    }, 120_000);
  }

  it("deletes the demo clinic's folder when stopped while it is still being filled", async () => {
    const demo = start(['--demo'], { CHAIRSIDE_DEMO_PATIENTS: '2000' });
    const [, folder] = await demo.waitFor(/synthetic patients in (\S+) /);
    expect(existsSync(folder!)).toBe(true);
    demo.child.kill('SIGINT');
    expect(await demo.exited).not.toBe(0);
    expect(existsSync(folder!)).toBe(false);
  }, 120_000);
});
