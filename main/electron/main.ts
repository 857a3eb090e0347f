/**
 * The desktop app's entry, bundled to dist/main/main.cjs (`npm run build:electron`). Thin glue
 * between Electron and the modules beside it, which hold the logic and are tested without
 * Electron: one instance, one clinic window on `app://chairside/`, every web contents hardened,
 * the clinic opened with the OS keystore (or the unlock prompt), the API over IPC, signed
 * updates, and one clean shutdown.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrowserWindow, Menu, app, dialog, ipcMain, protocol, safeStorage, session } from 'electron';
import { autoUpdater } from 'electron-updater';
import { ClinicCore } from '../core/clinic-core.js';
import { recoverClinicKey } from '../core/clinic-files.js';
import { passphraseKeyProvider } from '../core/keys/passphrase-key-provider.js';
import { createLogger } from '../core/logger.js';
import { cryptoRandom } from '../core/platform/sources.js';
import { applicationMenuTemplate } from './app-menu.js';
import { APP_SCHEME, APP_START_URL, UNLOCK_HOST, UNLOCK_START_URL } from './app-origin.js';
import { APP_SCHEME_PRIVILEGES, createAppProtocolHandler } from './app-protocol.js';
import { openClinicCore } from './clinic-unlock.js';
import { IpcTransport } from './ipc-transport.js';
import { isKeystoreUsable, safeStorageKeyProvider } from './safe-storage-key-provider.js';
import { hardenSession, hardenWebContents } from './session-hardening.js';
import { createShutdown } from './shutdown.js';
import { createUnlockPrompt } from './unlock-prompt.js';
import { UNLOCK_PAGE_FILES } from './unlock-page.js';
import { UpdateController, readUpdateSettings } from './updates.js';
import { mainWindowOptions, unlockWindowOptions } from './window-options.js';

const log = createLogger('electron-main');

/** dist/, holding main/, preload/ and renderer/ (inside app.asar when packaged). */
const distDir = fileURLToPath(new URL('../', import.meta.url));
const isPackaged = app.isPackaged;

let core: ClinicCore | null = null;
let transport: IpcTransport | null = null;
let mainWindow: BrowserWindow | null = null;
let unlockWindow: BrowserWindow | null = null;
/** The clinic window is open; closing it from now on quits the app. */
let running = false;
/** The clinic is closed; the next quit may proceed. */
let closed = false;
const shutdown = createShutdown(() => ({ transport, core }));

// Before `ready`: the scheme's privileges, and the sandbox for every renderer.
protocol.registerSchemesAsPrivileged([APP_SCHEME_PRIVILEGES]);
app.enableSandbox();

if (!app.requestSingleInstanceLock()) {
  // Another Chairside runs on this account and holds the clinic: it gets the focus instead.
  app.quit();
} else {
  app.on('second-instance', () => {
    const window = mainWindow ?? unlockWindow;
    if (window === null || window.isDestroyed()) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents, () => contents.getURL()));
  app.on('window-all-closed', () => {
    // Before the clinic window exists, the unlock flow decides (it quits when the prompt is closed).
    if (running) app.quit();
  });
  app.on('before-quit', (event) => {
    if (closed) return;
    event.preventDefault();
    void shutdown().then(() => {
      closed = true;
      app.quit();
    });
  });
  app.whenReady().then(start).catch(fatal);
}

async function start(): Promise<void> {
  Menu.setApplicationMenu(Menu.buildFromTemplate(applicationMenuTemplate(process.platform, isPackaged)));
  protocol.handle(
    APP_SCHEME,
    createAppProtocolHandler({
      rendererDir: join(distDir, 'renderer'),
      inMemoryHosts: { [UNLOCK_HOST]: UNLOCK_PAGE_FILES },
    }),
  );
  hardenSession(session.defaultSession);

  const dataDir = process.env.CHAIRSIDE_DATA_DIR ?? join(app.getPath('userData'), 'clinic');
  const prompt = createUnlockPrompt({ ipcMain, openWindow: openUnlockWindow });
  const opened = await openClinicCore({
    dataDir,
    // Checked after `ready`: on Linux the keystore backend is known only then.
    keystore: isKeystoreUsable(safeStorage) ? safeStorageKeyProvider(safeStorage) : null,
    passphraseProvider: (passphrase) => passphraseKeyProvider(passphrase, cryptoRandom),
    open: (keyProvider) => ClinicCore.open({ dataDir, keyProvider }),
    recover: (recoveryKey, newPrimary) => recoverClinicKey(dataDir, recoveryKey, newPrimary, cryptoRandom),
    prompt,
  });
  if (opened === null) {
    prompt.finish();
    app.quit();
    return;
  }
  core = opened;
  transport = new IpcTransport({ ipcMain, core });
  transport.register();
  mainWindow = openMainWindow(transport);
  running = true;
  prompt.finish();
  startUpdates(transport);
}

function openMainWindow(ipc: IpcTransport): BrowserWindow {
  const window = new BrowserWindow(
    mainWindowOptions({ preloadPath: join(distDir, 'preload', 'index.cjs'), isPackaged }),
  );
  ipc.attachWindow(window.webContents);
  window.once('ready-to-show', () => window.show());
  window.on('closed', () => {
    if (mainWindow === window) mainWindow = null;
  });
  window.loadURL(APP_START_URL).catch((error: unknown) => {
    // A window closed while loading aborts its load; only a live window that cannot load is fatal.
    if (!window.isDestroyed()) fatal(error);
  });
  return window;
}

function openUnlockWindow(): BrowserWindow {
  const window = new BrowserWindow(
    unlockWindowOptions({ preloadPath: join(distDir, 'preload', 'unlock.cjs'), isPackaged }),
  );
  unlockWindow = window;
  window.setMenuBarVisibility(false);
  window.once('ready-to-show', () => window.show());
  window.on('closed', () => {
    if (unlockWindow === window) unlockWindow = null;
  });
  window.loadURL(UNLOCK_START_URL).catch((error: unknown) => {
    if (!window.isDestroyed()) fatal(error);
  });
  return window;
}

function startUpdates(ipc: IpcTransport): void {
  // An unpackaged build has no app-update.yml; the dev feed (forceDevUpdateConfig) is never used.
  if (!isPackaged) return;
  const updates = new UpdateController({
    updater: autoUpdater,
    settings: readUpdateSettings(join(app.getPath('userData'), 'update-settings.json')),
    writes: ipc.tracker,
    confirmRestart: async (version) => {
      const options = {
        type: 'info' as const,
        buttons: ['Restart now', 'Later'],
        defaultId: 1,
        cancelId: 1,
        message: `Chairside ${version} is ready to install.`,
        detail:
          'Restart now to install it (finish what you are typing first), or it is installed the next time ' +
          'Chairside closes. A save in progress always finishes before the restart.',
      };
      const window = mainWindow;
      const { response } = await (window ? dialog.showMessageBox(window, options) : dialog.showMessageBox(options));
      return response === 0;
    },
    prepareForInstall: async () => {
      await shutdown();
      closed = true;
    },
    installFailed: () => {
      // The clinic is already closed: start again, without the update.
      app.relaunch();
      app.quit();
    },
  });
  updates.start();
}

function fatal(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  log.error('start failed', { error: error instanceof Error ? error.name : 'unknown' });
  dialog.showErrorBox('Chairside could not start', message);
  app.quit();
}
