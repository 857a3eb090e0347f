/**
 * For tests that run a command (the sync server's CLI, the offline verifier) to completion: what
 * it printed and how it exited. Shared by the CLI, backup and export tests.
 */
import type { ChildProcess } from 'node:child_process';

/** A finished command: its exit code (null when a signal ended it) and its output as text. */
export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Collects a child's output until it closes; the child must have been spawned with piped stdout and stderr. */
export function commandResult(child: ChildProcess): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/**
 * Keeps calling `write` (a server at work) until `command` has finished; returns the command's
 * result and how many writes ran meanwhile (a backup test checks it was more than none).
 */
export async function writeUntilFinished(
  command: Promise<CommandResult>,
  write: () => Promise<void>,
): Promise<{ result: CommandResult; writesDuring: number }> {
  let finished = false;
  void command.then(() => (finished = true));
  let writesDuring = 0;
  while (!finished) {
    await write();
    writesDuring++;
  }
  return { result: await command, writesDuring };
}
