import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildElectron } from '../../build/build-electron.mjs';
import { ADMIN_PASSWORD } from '../../test/support/clinic-fixture.js';

/**
 * The real bundle (dist/main/main.cjs as `npm run build:electron` makes it) started in a Node
 * child process, with a recording stand-in for the electron module put where `require('electron')`
 * finds it. This runs main.ts's glue end to end without Electron: start-up, the protocol, the
 * hardening, opening the clinic through the (stand-in) OS keystore, the IPC transport with the
 * real core and its bcrypt worker found beside the bundle, and the clean shutdown on quit.
 */

/** The recording stand-in for the electron module (CommonJS, as the bundle requires it). */
const ELECTRON_STAND_IN = String.raw`
const { EventEmitter } = require('node:events');
const record = { windows: [], handlers: new Map(), protocols: new Map(), quitCalls: 0, quitFinished: false,
  sandbox: false, privileges: null, permissionRequest: null, beforeRequest: null, errors: [], menu: null };
let nextId = 1;
class WebContents extends EventEmitter {
  constructor() { super(); this.id = nextId++; this.mainFrame = { url: '', parent: null, processId: 7, routingId: this.id };
    this.sent = []; this.destroyed = false; }
  isDestroyed() { return this.destroyed; }
  send(channel, ...args) { this.sent.push([channel, ...args]); }
  getURL() { return this.mainFrame.url; }
  setWindowOpenHandler(handler) { this.windowOpenHandler = handler; }
}
const app = new EventEmitter();
class BrowserWindow extends EventEmitter {
  constructor(options) { super(); this.options = options; this.webContents = new WebContents(); this.closed = false;
    record.windows.push(this); app.emit('web-contents-created', {}, this.webContents); }
  loadURL(url) { this.webContents.mainFrame.url = url; setImmediate(() => this.emit('ready-to-show')); return Promise.resolve(); }
  show() { this.shown = true; }
  isDestroyed() { return this.closed; }
  isMinimized() { return false; }
  restore() {}
  focus() {}
  setMenuBarVisibility() {}
  close() { this.closed = true; this.webContents.destroyed = true; this.webContents.emit('destroyed'); this.emit('closed'); }
}
Object.assign(app, {
  isPackaged: false,
  enableSandbox() { record.sandbox = true; },
  requestSingleInstanceLock() { return true; },
  whenReady() { return new Promise((resolve) => setImmediate(resolve)); },
  getPath() { return process.env.STAND_IN_USER_DATA; },
  relaunch() {},
  quit() {
    record.quitCalls++;
    const event = { defaultPrevented: false, preventDefault() { this.defaultPrevented = true; } };
    app.emit('before-quit', event);
    if (!event.defaultPrevented) record.quitFinished = true;
  },
});
const pad = Buffer.from('recording-stand-in-pad-recording-stand-in-pad');
const xor = (data) => Buffer.from(data.map((byte, i) => byte ^ pad[i % pad.length]));
module.exports = {
  app, BrowserWindow,
  ipcMain: { handle(channel, handler) { record.handlers.set(channel, handler); }, removeHandler(channel) { record.handlers.delete(channel); } },
  protocol: { registerSchemesAsPrivileged(list) { record.privileges = list; }, handle(scheme, handler) { record.protocols.set(scheme, handler); } },
  session: { defaultSession: {
    setPermissionRequestHandler(handler) { record.permissionRequest = handler; },
    setPermissionCheckHandler() {}, setDevicePermissionHandler() {},
    webRequest: { onBeforeRequest(listener) { record.beforeRequest = listener; } },
  } },
  safeStorage: {
    isEncryptionAvailable: () => true,
    getSelectedStorageBackend: () => 'gnome_libsecret',
    encryptString: (text) => xor(Buffer.from(text, 'utf8')),
    decryptString: (data) => xor(data).toString('utf8'),
  },
  Menu: { buildFromTemplate: (template) => template, setApplicationMenu(menu) { record.menu = menu; } },
  dialog: { showErrorBox(title, message) { record.errors.push(message); }, showMessageBox: async () => ({ response: 1 }) },
  __record: record,
};
`;

/** Drives the bundle through the stand-in and prints what happened as one JSON line. */
const DRIVER = String.raw`
const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const electron = require('electron');
const record = electron.__record;
require(process.env.BUNDLE);
const until = async (condition) => {
  for (let i = 0; i < 1000; i++) { if (condition()) return; await new Promise((resolve) => setTimeout(resolve, 10)); }
  throw new Error('timed out; dialog errors: ' + JSON.stringify(record.errors));
};
(async () => {
  await until(() => record.windows.length === 1 && record.handlers.has('chairside:invoke'));
  const window = record.windows[0];
  const contents = window.webContents;
  const invoke = (channel, input, frame = contents.mainFrame) =>
    record.handlers.get('chairside:invoke')({ sender: contents, senderFrame: frame }, channel, input);
  const result = { url: contents.mainFrame.url, webPreferences: window.options.webPreferences, sandbox: record.sandbox,
    privileges: record.privileges, hasWindowOpenHandler: typeof contents.windowOpenHandler === 'function' };
  result.status = await invoke('setup.status', {});
  result.setup = await invoke('setup.createClinic', { clinicName: 'Smile Dental', branchName: 'Main Street',
    admin: { username: 'asha', displayName: 'Asha Rao', password: process.env.ADMIN_PASSWORD } });
  result.signIn = await invoke('auth.signIn', { username: 'asha', password: process.env.ADMIN_PASSWORD });
  result.session = await invoke('auth.session', {});
  result.foreign = await invoke('setup.status', {}, { url: 'https://evil.example/', parent: null, processId: 7, routingId: contents.id });
  result.sent = contents.sent;
  const page = await record.protocols.get('app')(new Request('app://chairside/'));
  result.page = { status: page.status, csp: page.headers.get('content-security-policy'), body: await page.text() };
  const permissions = [];
  record.permissionRequest(contents, 'media', (granted) => permissions.push(granted));
  result.permissions = permissions;
  electron.app.quit();
  await until(() => record.quitFinished);
  result.quitCalls = record.quitCalls;
  const dataDir = process.env.CHAIRSIDE_DATA_DIR;
  result.primaryWrapping = JSON.parse(readFileSync(join(dataDir, 'keys.json'), 'utf8')).primary.kind;
  result.walLeft = existsSync(join(dataDir, 'clinic.db-wal'));
  result.dialogErrors = record.errors;
  process.stdout.write('RESULT ' + JSON.stringify(result) + '\n');
  process.exit(0);
})().catch((error) => { process.stdout.write('ERROR ' + error.stack + '\n'); process.exit(1); });
`;

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
let work: string;
/** What the driver reports, as JSON. */
interface BundleReport {
  url: string;
  webPreferences: Record<string, unknown> & { preload: string };
  sandbox: boolean;
  privileges: unknown;
  hasWindowOpenHandler: boolean;
  status: unknown;
  setup: unknown;
  signIn: unknown;
  session: unknown;
  foreign: unknown;
  sent: unknown[];
  page: { status: number; csp: string; body: string };
  permissions: boolean[];
  quitCalls: number;
  primaryWrapping: string;
  walLeft: boolean;
  dialogErrors: string[];
}
let report: BundleReport;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'chairside-bundle-run-'));
  const dist = join(work, 'dist');
  await buildElectron({ outDir: dist });
  mkdirSync(join(dist, 'renderer'), { recursive: true });
  writeFileSync(join(dist, 'renderer', 'index.html'), '<!doctype html><title>Chairside</title>');
  mkdirSync(join(work, 'stand-in', 'electron'), { recursive: true });
  writeFileSync(join(work, 'stand-in', 'electron', 'index.js'), ELECTRON_STAND_IN);
  writeFileSync(join(work, 'drive.cjs'), DRIVER);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [join(work, 'drive.cjs')],
      {
        cwd: work,
        timeout: 60_000,
        env: {
          ...process.env,
          // The stand-in first, then the repository's modules for the native database module.
          NODE_PATH: [join(work, 'stand-in'), join(repoRoot, 'node_modules')].join(delimiter),
          BUNDLE: join(dist, 'main', 'main.cjs'),
          CHAIRSIDE_DATA_DIR: join(work, 'clinic'),
          CHAIRSIDE_LOG_LEVEL: 'silent',
          STAND_IN_USER_DATA: join(work, 'user-data'),
          ADMIN_PASSWORD,
        },
      },
      (error, out, err) => (error ? reject(new Error(`${error.message}\n${out}\n${err}`)) : resolve(out)),
    );
  });
  const line = stdout.split('\n').find((entry) => entry.startsWith('RESULT '));
  if (!line) throw new Error(`the bundle run reported no result:\n${stdout}`);
  report = JSON.parse(line.slice('RESULT '.length)) as BundleReport;
}, 90_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the main bundle, run with a recording stand-in for electron', () => {
  it('opens one hardened, sandboxed window on the app protocol', () => {
    expect(report.url).toBe('app://chairside/');
    expect(report.sandbox).toBe(true);
    expect(report.privileges).toEqual([
      { scheme: 'app', privileges: { standard: true, secure: true, supportFetchAPI: true } },
    ]);
    expect(report.webPreferences).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false });
    expect(report.webPreferences.preload).toMatch(/dist[/\\]preload[/\\]index\.cjs$/);
    expect(report.hasWindowOpenHandler).toBe(true);
    expect(report.permissions).toEqual([false]);
  });

  it('sets up a clinic protected by the OS keystore and signs in over IPC', () => {
    expect(report.status).toMatchObject({ ok: true, output: { state: 'new' } });
    expect(report.setup).toMatchObject({ ok: true });
    expect(report.signIn).toMatchObject({ ok: true, output: { user: { username: 'asha' } } });
    expect(report.session).toMatchObject({ ok: true, output: { state: 'active' } });
    expect(report.primaryWrapping).toBe('os-keystore');
    expect(report.sent).toContainEqual(['chairside:changed', { channel: 'setup.createClinic', entityType: 'clinic' }]);
  });

  it('refuses a foreign frame and serves the renderer with the CSP', () => {
    expect(report.foreign).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(report.page).toMatchObject({ status: 200, body: '<!doctype html><title>Chairside</title>' });
    expect(report.page.csp).toContain("script-src 'self'");
  });

  it('closes the clinic cleanly before quitting', () => {
    expect(report.quitCalls).toBe(2);
    expect(report.walLeft).toBe(false);
    expect(report.dialogErrors).toEqual([]);
    expect(existsSync(join(work, 'clinic', 'clinic.db'))).toBe(true);
    expect(readFileSync(join(work, 'clinic', 'keys.json'), 'utf8')).not.toContain('"passphrase"');
  });
});
