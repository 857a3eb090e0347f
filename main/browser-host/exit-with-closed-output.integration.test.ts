/**
 * The browser host stops cleanly on SIGTERM after the reader of its standard output went away.
 * Before start-host.ts tolerated it, the stop's own "stopping" line failed with EPIPE as an
 * unhandled error and the host died with exit code 1 before closing the clinic's database.
 *
 * The host writes a few lines in its life (where it listens, that it stops), so a test cannot fill
 * its pipe the way the sync server's can: the pipe is closed unread, which is what a supervisor
 * that died leaves behind.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDataDir } from '../../test/support/clinic-fixture.js';
import { spawnPipedServer, stopReading, terminateAndTime } from '../../test/support/piped-output.js';

const EXIT_LIMIT_MS = 5_000;
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

describe('browser host exit with a closed standard output', () => {
  it('exits 0 within 5 s of SIGTERM after the reader of its stdout pipe closed it', async () => {
    const temp = tempDataDir();
    cleanup.push(() => temp.remove());
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('CHAIRSIDE_')),
    );
    const host = await spawnPipedServer(
      'main/browser-host/cli.ts',
      ['--data-dir', join(temp.dir, 'clinic'), '--port', '0'],
      { ...inherited, CHAIRSIDE_DB_PASSPHRASE: 'first clinic passphrase' },
      /Chairside browser host listening on (http:\/\/127\.0\.0\.1:\d+)\n/,
    );
    cleanup.push(() => host.child.kill('SIGKILL'));
    stopReading(host);
    const exit = await terminateAndTime(host, true, EXIT_LIMIT_MS + 5_000);
    expect(exit, host.stderr()).toMatchObject({ code: 0, signal: null });
    expect(exit.ms).toBeLessThan(EXIT_LIMIT_MS);
  }, 60_000);
});
