import { EventEmitter } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IPC_INVOKE } from '../../shared/api/bridge.js';
import { tempDataDir } from '../../test/support/clinic-fixture.js';
import type { InvokeResult } from '../core/clinic-core.js';
import { CallTracker } from './call-tracker.js';
import { IpcTransport } from './ipc-transport.js';
import { RecordingIpcMain, RecordingWebContents } from './recording-electron.js';
import {
  DEFAULT_UPDATE_SETTINGS,
  UpdateController,
  type UpdateSettings,
  type UpdaterLike,
  readUpdateSettings,
  writeUpdateSettings,
} from './updates.js';

/**
 * A recording stand-in for electron-updater's autoUpdater: an event emitter whose property
 * writes and method calls are recorded, so a test can tell what was configured and whether an
 * install was started.
 */
function recordingAutoUpdater() {
  const events = new EventEmitter();
  const log: string[] = [];
  const state: Omit<UpdaterLike, 'on' | 'checkForUpdates' | 'quitAndInstall'> & Record<string, unknown> = {
    autoDownload: false,
    autoInstallOnAppQuit: false,
    allowPrerelease: false,
    allowDowngrade: false,
    disableWebInstaller: false,
    channel: null,
    logger: null,
    forceDevUpdateConfig: false,
  };
  const methods = {
    on(event: string, listener: (...args: never[]) => void) {
      events.on(event, listener as (...args: unknown[]) => void);
      return updater;
    },
    async checkForUpdates() {
      log.push('checkForUpdates');
      return null;
    },
    quitAndInstall() {
      log.push('quitAndInstall');
    },
    setFeedURL() {
      log.push('setFeedURL');
    },
  };
  const updater = new Proxy(Object.assign(state, methods), {
    set(target, property, value) {
      log.push(`set ${String(property)}=${typeof value === 'object' && value !== null ? 'object' : String(value)}`);
      return Reflect.set(target, property, value);
    },
  }) as unknown as UpdaterLike & Record<string, unknown>;
  return { updater, log, emit: (event: string, ...args: unknown[]) => events.emit(event, ...args) };
}

function controller(options: { settings?: UpdateSettings; writes?: CallTracker; restart?: boolean } = {}) {
  const stand = recordingAutoUpdater();
  const order: string[] = [];
  const writes = options.writes ?? new CallTracker();
  const updates = new UpdateController({
    updater: stand.updater,
    settings: options.settings ?? DEFAULT_UPDATE_SETTINGS,
    writes,
    confirmRestart: async () => options.restart ?? true,
    prepareForInstall: async () => {
      order.push('prepareForInstall');
    },
    installFailed: () => order.push('installFailed'),
  });
  return { ...stand, updates, order, writes };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('update configuration', () => {
  it('installs downloaded updates when the app quits and downloads in the background', () => {
    const { updater } = controller();
    expect(updater.autoInstallOnAppQuit).toBe(true);
    expect(updater.autoDownload).toBe(true);
  });

  it('leaves signature verification and the feed alone, and refuses web installers', () => {
    const { updater, log } = controller();
    const touched = log.filter((entry) => entry.startsWith('set ')).map((entry) => entry.slice(4).split('=')[0]);
    expect(touched).not.toContain('verifyUpdateCodeSignature');
    expect(touched).not.toContain('forceDevUpdateConfig');
    expect(log).not.toContain('setFeedURL');
    expect(updater.forceDevUpdateConfig).toBe(false);
    expect(updater.disableWebInstaller).toBe(true);
  });

  it('follows the stable channel by default, without pre-releases or downgrades', () => {
    const { updater } = controller();
    expect(updater.channel).toBe('latest');
    expect(updater.allowPrerelease).toBe(false);
    expect(updater.allowDowngrade).toBe(false);
  });

  it('follows the beta channel when the settings say so, still without downgrades', () => {
    const { updater, log } = controller({ settings: { channel: 'beta' } });
    expect(updater.channel).toBe('beta');
    expect(updater.allowPrerelease).toBe(true);
    // Setting `channel` turns downgrades on in electron-updater; it must be turned off after it.
    expect(log.indexOf('set allowDowngrade=false')).toBeGreaterThan(log.indexOf('set channel=beta'));
  });

  it('checks for updates without throwing when offline', async () => {
    const { updates, updater, log } = controller();
    updater.checkForUpdates = async () => {
      log.push('checkForUpdates');
      throw new Error('net::ERR_INTERNET_DISCONNECTED');
    };
    await expect(updates.check()).resolves.toBeUndefined();
    expect(log).toContain('checkForUpdates');
  });
});

describe('installing an update', () => {
  it('does nothing before an update was downloaded', async () => {
    const { updates, log } = controller();
    expect(await updates.installWhenIdle()).toBe(false);
    expect(log).not.toContain('quitAndInstall');
  });

  it('installs at once when nothing is being written, after closing the clinic', async () => {
    const { emit, log, order } = controller();
    emit('update-downloaded', { version: '1.2.0' });
    await settle();
    expect(order).toEqual(['prepareForInstall']);
    expect(log.filter((entry) => entry === 'quitAndInstall')).toHaveLength(1);
  });

  it('leaves the update for the next quit when the person chooses later', async () => {
    const { emit, log, updates } = controller({ restart: false });
    emit('update-downloaded', { version: '1.2.0' });
    await settle();
    expect(log).not.toContain('quitAndInstall');
    expect(updates.pendingVersion).toBe('1.2.0');
  });

  it('does not install while a clinical write is in flight, and installs once it completes', async () => {
    const writes = new CallTracker();
    const { emit, log, order } = controller({ writes });
    const endWrite = writes.begin(true);
    emit('update-downloaded', { version: '1.2.0' });
    await settle();
    expect(log).not.toContain('quitAndInstall');
    expect(order).toEqual([]);
    endWrite();
    await settle();
    expect(order).toEqual(['prepareForInstall']);
    expect(log).toContain('quitAndInstall');
  });

  it('is not held up by reads', async () => {
    const writes = new CallTracker();
    const { emit, log } = controller({ writes });
    writes.begin(false);
    emit('update-downloaded', { version: '1.2.0' });
    await settle();
    expect(log).toContain('quitAndInstall');
  });

  it('waits for a write running through the IPC transport', async () => {
    const ipcMain = new RecordingIpcMain();
    let finishWrite: () => void = () => {};
    const core = {
      invoke: (channel: string): Promise<InvokeResult> =>
        new Promise((resolve) => {
          finishWrite = () => resolve({ ok: true, output: { channel }, effects: {} });
        }),
    };
    const transport = new IpcTransport({ ipcMain, core });
    transport.register();
    const window = new RecordingWebContents();
    transport.attachWindow(window);
    const { emit, log } = controller({ writes: transport.tracker });

    const write = ipcMain.invoke(IPC_INVOKE, window.eventFrom(), 'patients.updateMedicalHistory', {});
    emit('update-downloaded', { version: '1.2.0' });
    await settle();
    expect(log).not.toContain('quitAndInstall');
    finishWrite();
    await write;
    await settle();
    expect(log).toContain('quitAndInstall');
  });

  it('restarts the app without the update when the installer cannot start', async () => {
    const { emit, updater, order } = controller();
    updater.quitAndInstall = () => emit('error', new Error("No update filepath provided, can't quit and install"));
    emit('update-downloaded', { version: '1.2.0' });
    await settle();
    expect(order).toEqual(['prepareForInstall', 'installFailed']);
  });
});

describe('update settings file', () => {
  const temps: Array<{ remove(): void }> = [];
  afterEach(() => temps.splice(0).forEach((temp) => temp.remove()));
  const settingsPath = () => {
    const temp = tempDataDir();
    temps.push(temp);
    return join(temp.dir, 'update-settings.json');
  };

  it('defaults to the stable channel when the file is missing or not valid', () => {
    const path = settingsPath();
    expect(readUpdateSettings(path)).toEqual({ channel: 'latest' });
    writeFileSync(path, '{"channel":"nightly"}');
    expect(readUpdateSettings(path)).toEqual({ channel: 'latest' });
    writeFileSync(path, 'not json');
    expect(readUpdateSettings(path)).toEqual({ channel: 'latest' });
  });

  it('keeps the chosen channel', () => {
    const path = settingsPath();
    writeUpdateSettings(path, { channel: 'beta' });
    expect(readUpdateSettings(path)).toEqual({ channel: 'beta' });
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ channel: 'beta' });
  });
});
