/**
 * A device refuses a snapshot that fails its checks and writes nothing (docs/sync-protocol.md,
 * "Snapshot bootstrap"): a join whose chunk was altered on the way fails and leaves no clinic
 * database, and the same device joins once the snapshot arrives intact.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FetchLike } from '../../main/core/sync/sync-http.js';
import { ADMIN_PASSWORD, TestCaller, type TestClinic } from '../support/clinic-fixture.js';
import {
  FAST_SYNC,
  type FreshDevice,
  type ListeningServer,
  connectFoundingClinic,
  openFreshDevice,
  startListeningServer,
} from './sync-support.js';

let server: ListeningServer;
let a: TestClinic;
let device: FreshDevice;

beforeEach(async () => {
  server = await startListeningServer();
  ({ clinic: a } = await connectFoundingClinic(server));
});
afterEach(async () => {
  await device?.close();
  await a.close();
  await server.close();
});

/** A fetch that changes one byte of every snapshot chunk while `tampering` is set. */
function tamperingFetch(state: { tampering: boolean; altered: number }): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (!state.tampering || !new URL(url).pathname.startsWith('/v1/snapshot/chunk') || !response.ok) return response;
    const text = await response.text();
    state.altered++;
    return new Response(text.replace('"patient"', '"patienT"').replace('Asha', 'Esha'), {
      status: response.status,
      headers: response.headers,
    });
  };
}

async function enrollmentCode(): Promise<string> {
  await a.asAdmin('auth.reauthenticate', { password: ADMIN_PASSWORD });
  return (await a.asAdmin('devices.createEnrollmentCode', {})).code;
}

describe('a refused snapshot', () => {
  it('fails the join and leaves no clinic database; an intact one then joins', async () => {
    await a.asAdmin('patients.create', { branchId: a.branchId, firstName: 'Asha', lastName: 'Rao' });
    await a.asAdmin('sync.now', {});
    const state = { tampering: true, altered: 0 };
    device = await openFreshDevice('snapshot-refused', { ...FAST_SYNC, fetch: tamperingFetch(state) });
    const caller = new TestCaller(device.core);

    const refused = await caller.errorCode('setup.joinClinic', {
      serverUrl: server.url,
      enrollmentCode: await enrollmentCode(),
    });
    expect(refused).toBe('INTERNAL');
    expect(state.altered).toBeGreaterThan(0);
    expect(await caller.ok('setup.status', {})).toEqual({ state: 'new', clinicName: null });

    state.tampering = false;
    const joined = await caller.ok('setup.joinClinic', {
      serverUrl: server.url,
      enrollmentCode: await enrollmentCode(),
    });
    expect(joined.applied).toBeGreaterThan(0);
    expect(await caller.ok('setup.status', {})).toMatchObject({ state: 'ready' });
  });
});
