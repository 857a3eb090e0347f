/**
 * The sync server exits on SIGTERM however its standard output is doing. Before log-destination.ts,
 * a server whose stdout pipe was full when its reader closed it stopped listening and never
 * exited: pino's exit-time flushSync retried the dead pipe every 100 ms, forever.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type PipedServer, spawnPipedServer, stopReading, terminateAndTime } from '../../test/support/piped-output.js';

const ENTRY = 'sync-server/cli/main.ts';
/**
 * Requests made while nobody reads: each logs one line of about 200 bytes, so 2,000 of them
 * write about 400 KB, past what the socket pair and the test's paused stream hold.
 */
const REQUESTS_WHILE_NOT_READING = 2_000;
const EXIT_LIMIT_MS = 5_000;

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

async function startServer(): Promise<PipedServer> {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-sync-exit-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const { CHAIRSIDE_SYNC_MASTER_KEY: _ignored, ...env } = process.env;
  const server = await spawnPipedServer(
    ENTRY,
    ['--data-dir', dir, '--port', '0'],
    { ...env, CHAIRSIDE_LOG_LEVEL: 'info' },
    /"event":"listening","url":"([^"]+)"/,
  );
  cleanup.push(() => server.child.kill('SIGKILL'));
  return server;
}

/** Makes the server log `count` request lines, 20 requests at a time; all must be answered. */
async function makeItLog(url: string, count: number): Promise<void> {
  let sent = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (sent < count) {
        sent++;
        const response = await fetch(`${url}/health`);
        await response.arrayBuffer();
        expect(response.status).toBe(200);
      }
    }),
  );
}

describe('sync server exit with a stuck standard output', () => {
  it('exits 0 within 5 s of SIGTERM after the reader of its full stdout pipe closed it', async () => {
    const server = await startServer();
    stopReading(server);
    await makeItLog(server.url, REQUESTS_WHILE_NOT_READING);
    const exit = await terminateAndTime(server, true, EXIT_LIMIT_MS + 5_000);
    expect(exit, server.stderr()).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_LIMIT_MS);
  }, 90_000);

  it('exits 0 within 5 s of SIGTERM while its stdout pipe is full and its reader never reads again', async () => {
    const server = await startServer();
    stopReading(server);
    await makeItLog(server.url, REQUESTS_WHILE_NOT_READING);
    const exit = await terminateAndTime(server, false, EXIT_LIMIT_MS + 5_000);
    expect(exit, server.stderr()).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_LIMIT_MS);
  }, 90_000);
});
