/**
 * A sync server nobody answers at (a typo in the address, the server down): connecting or joining
 * fails with SYNC_UNREACHABLE, a 502 in the browser host, in words a receptionist can act on;
 * never INTERNAL (500), which would read as a fault of this app.
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { apiErrorStatus } from '../../shared/api/errors.js';
import { createBrowserHost, listenOnLoopback } from './server.js';
import { ClinicCore } from '../core/clinic-core.js';
import {
  ADMIN_PASSWORD,
  type TestClinic,
  createTestClinic,
  tempDataDir,
  testKeyProvider,
} from '../../test/support/clinic-fixture.js';

/** A loopback URL on a port that was free a moment ago, so nothing listens there. */
async function deadServerUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${address.port}`;
}

describe('connecting to a sync server that does not answer', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('refuses sync.connect with SYNC_UNREACHABLE, a 502, saying what to check', async () => {
    const clinic: TestClinic = await createTestClinic();
    cleanups.push(() => clinic.close());
    const serverUrl = await deadServerUrl();
    // sync.connect asks for the password again; confirm it first, as the dialog would.
    await clinic.admin.ok('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const connect = await clinic.admin.call('sync.connect', { serverUrl, enrollmentCode: 'ABCD-EFGH-IJKL' });
    expect(connect).toMatchObject({ ok: false, error: { code: 'SYNC_UNREACHABLE' } });
    if (connect.ok) return;
    expect(apiErrorStatus[connect.error.code]).toBe(502);
    expect(connect.error.message).toMatch(/could not be reached/);
  });

  it('refuses sync.connect with SYNC_UNREACHABLE when a proxy answers 503 for a stopped server', async () => {
    const clinic: TestClinic = await createTestClinic();
    cleanups.push(() => clinic.close());
    const proxy = createHttpServer((_request, response) => {
      response.writeHead(503, { 'content-type': 'text/html' }).end('<h1>503 Service Unavailable</h1>');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => proxy.close(() => resolve())));
    const address = proxy.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    await clinic.admin.ok('auth.reauthenticate', { password: ADMIN_PASSWORD });
    const connect = await clinic.admin.call('sync.connect', {
      serverUrl: `http://127.0.0.1:${address.port}`,
      enrollmentCode: 'ABCD-EFGH-IJKL',
    });
    expect(connect).toMatchObject({ ok: false, error: { code: 'SYNC_UNREACHABLE' } });
    if (!connect.ok) expect(connect.error.message).toMatch(/not working right now/);
  });

  it('answers setup.joinClinic over the browser host with HTTP 502 SYNC_UNREACHABLE, and leaves the device new', async () => {
    const temp = tempDataDir();
    const core = await ClinicCore.open({ dataDir: temp.dir, keyProvider: testKeyProvider(), bcryptCost: 4 });
    const app = createBrowserHost(core, {});
    const { url } = await listenOnLoopback(app, { port: 0 });
    cleanups.push(async () => {
      await app.close();
      await core.close();
      temp.remove();
    });
    const serverUrl = await deadServerUrl();
    const response = await fetch(`${url}/api/setup.joinClinic`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serverUrl, enrollmentCode: 'ABCD-EFGH-IJKL' }),
    });
    expect(response.status).toBe(502);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SYNC_UNREACHABLE');
    expect(body.error.message).toMatch(/could not be reached/);
    const status = await fetch(`${url}/api/setup.status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(((await status.json()) as { state: string }).state).toBe('new');
  });
});
