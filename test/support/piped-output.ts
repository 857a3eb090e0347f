/**
 * For tests of a server process whose standard output is a pipe that its reader stops reading
 * and then closes: spawn it with piped output, wait for its listening line, stop reading, and
 * time its exit after SIGTERM. Used by the sync server's and the browser host's exit tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A spawned server with its stdout still a pipe, and the URL it printed. */
export interface PipedServer {
  readonly child: ChildProcess;
  readonly url: string;
  /** What it wrote to stderr so far (for failure messages). */
  stderr(): string;
}

/**
 * Spawns `entry` (node + tsx, as the npm scripts run it) with piped stdout and stderr; resolves
 * once stdout matched `listening`, whose first group is the URL.
 */
export async function spawnPipedServer(
  entry: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  listening: RegExp,
): Promise<PipedServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: REPO_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = listening.exec(output);
      if (match?.[1] === undefined) return;
      child.stdout!.off('data', onData);
      child.off('exit', onExit);
      resolve(match[1]);
    };
    const onExit = (code: number | null) => reject(new Error(`exited (${code}) before listening: ${stderr}`));
    child.stdout!.on('data', onData);
    child.on('exit', onExit);
  });
  return { child, url, stderr: () => stderr };
}

/** Stops reading the child's stdout: once the pipe's buffers are full, its writes wait. */
export function stopReading(server: PipedServer): void {
  server.child.stdout!.pause();
}

/** How a child ended after SIGTERM, and how long after it. */
export interface TimedExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly ms: number;
}

/**
 * Optionally closes the test's end of the child's stdout (the reader goes away), sends SIGTERM
 * at once, and resolves with the exit; a child still running after `limitMs` is killed and
 * reported with signal SIGKILL, so a hang fails the test instead of stalling the run.
 */
export function terminateAndTime(server: PipedServer, closeOutput: boolean, limitMs: number): Promise<TimedExit> {
  const { child } = server;
  if (closeOutput) child.stdout!.destroy();
  const started = Date.now();
  const exited = new Promise<TimedExit>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, ms: Date.now() - started })),
  );
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs);
  child.kill('SIGTERM');
  return exited.finally(() => clearTimeout(killer));
}
