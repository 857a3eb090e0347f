import { afterEach, describe, expect, it } from 'vitest';
import { IPC_CHANGED, IPC_INVOKE } from '../../shared/api/bridge.js';
import { ADMIN_PASSWORD, tempDataDir, testKeyProvider } from '../../test/support/clinic-fixture.js';
import { ClinicCore, type InvokeResult, type TransportContext } from '../core/clinic-core.js';
import { testSources } from '../core/platform/sources.js';
import { IpcTransport } from './ipc-transport.js';
import { RecordingIpcMain, RecordingWebContents } from './recording-electron.js';

/**
 * A real clinic core (temporary data directory, test key provider, bcrypt cost 4) behind the IPC
 * transport, called through a recording stand-in for Electron's ipcMain and web contents. The
 * core is wrapped only to record the session tokens it issues, so the test can look for them in
 * everything the renderer received.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function desktopApp() {
  const temp = tempDataDir();
  const core = await ClinicCore.open({
    dataDir: temp.dir,
    keyProvider: testKeyProvider(),
    sources: testSources('ipc-transport'),
    bcryptCost: 4,
  });
  cleanups.push(temp.remove, () => core.close());
  const issuedTokens: string[] = [];
  const results: Array<{ channel: string; result: InvokeResult }> = [];
  const recordingCore = {
    async invoke(channel: string, input: unknown, context: TransportContext): Promise<InvokeResult> {
      const result = await core.invoke(channel, input, context);
      results.push({ channel, result });
      if (result.effects.session) issuedTokens.push(result.effects.session.token);
      return result;
    },
  };
  const ipcMain = new RecordingIpcMain();
  const transport = new IpcTransport({ ipcMain, core: recordingCore });
  transport.register();
  const received: unknown[] = [];
  const openWindow = () => {
    const contents = new RecordingWebContents('app://chairside/');
    transport.attachWindow(contents);
    return contents;
  };
  const call = async (contents: RecordingWebContents, channel: string, input: unknown = {}) => {
    const answer = await ipcMain.invoke(IPC_INVOKE, contents.eventFrom(), channel, input);
    received.push(answer);
    return answer as { ok: boolean; output?: Record<string, unknown>; error?: { code: string } };
  };
  return { transport, openWindow, call, issuedTokens, received, results };
}

describe('IPC transport with a real clinic core', () => {
  it('sets up a clinic and signs in through ipcMain, keeping the session in main', async () => {
    const { openWindow, call, issuedTokens, received } = await desktopApp();
    const window = openWindow();

    expect(await call(window, 'setup.status')).toMatchObject({ ok: true, output: { state: 'new' } });
    const setup = await call(window, 'setup.createClinic', {
      clinicName: 'Smile Dental',
      branchName: 'Main Street',
      admin: { username: 'asha', displayName: 'Asha Rao', password: ADMIN_PASSWORD },
    });
    expect(setup).toMatchObject({ ok: true, output: { recoveryKey: expect.any(String) } });

    expect(await call(window, 'auth.session')).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
    const signedIn = await call(window, 'auth.signIn', { username: 'asha', password: ADMIN_PASSWORD });
    expect(signedIn).toMatchObject({ ok: true, output: { user: { username: 'asha', role: 'Admin' } } });
    expect(await call(window, 'auth.session')).toMatchObject({ ok: true, output: { state: 'active' } });

    const branchId = (setup.output as { branchId: string }).branchId;
    const patient = await call(window, 'patients.create', { branchId, firstName: 'Meera', lastName: 'Iyer' });
    expect(patient).toMatchObject({ ok: true, output: { patientNumber: 'P000001' } });
    expect(window.sent).toContainEqual({
      channel: IPC_CHANGED,
      args: [{ channel: 'patients.create', entityType: 'patient' }],
    });

    expect(issuedTokens).toHaveLength(1);
    const everythingTheRendererSaw = JSON.stringify([received, window.sent]);
    expect(everythingTheRendererSaw).not.toContain(issuedTokens[0]);
    for (const answer of received) expect(Object.keys(answer as object).sort()).not.toContain('effects');
  });

  it('keeps the sessions of two windows apart and ends one when its window closes', async () => {
    const { openWindow, call, transport, results } = await desktopApp();
    const front = openWindow();
    await call(front, 'setup.createClinic', {
      clinicName: 'Smile Dental',
      branchName: 'Main Street',
      admin: { username: 'asha', displayName: 'Asha Rao', password: ADMIN_PASSWORD },
    });
    await call(front, 'auth.signIn', { username: 'asha', password: ADMIN_PASSWORD });
    const surgery = openWindow();

    expect(await call(surgery, 'auth.session')).toMatchObject({ ok: false, error: { code: 'UNAUTHENTICATED' } });
    expect(await call(front, 'auth.session')).toMatchObject({ ok: true });

    front.destroy();
    expect(transport.hasSession(front.id)).toBe(false);
    await transport.tracker.whenNoCalls();
    expect(results.at(-1)).toMatchObject({
      channel: 'auth.signOut',
      result: { ok: true, effects: { clearSession: true } },
    });
    await transport.close();
    const audit = await call(surgery, 'audit.list', {});
    expect(audit).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
  });
});
