/**
 * The options of every window the app opens. The web preferences are the security boundary
 * between a page and the machine (Electron's security checklist, items 2-4, 6, 8-10; see
 * docs/electron-security.md): the page runs sandboxed, isolated from the preload, with no Node
 * and no way to switch any of that back on.
 */
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

export interface WindowOptionsInput {
  /** The bundled preload (dist/preload/*.cjs). */
  readonly preloadPath: string;
  /** `app.isPackaged`: a packaged app has no developer tools. */
  readonly isPackaged: boolean;
}

/** The web preferences of a window; the same for the clinic window and the unlock prompt. */
export function secureWebPreferences(input: WindowOptionsInput): WebPreferences {
  return {
    preload: input.preloadPath,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    enableWebSQL: false,
    // Dropping a file on the window must not navigate to it.
    navigateOnDragDrop: false,
    safeDialogs: true,
    // Chromium's spellchecker downloads dictionaries from Google's servers and reads what is typed.
    spellcheck: false,
    devTools: !input.isPackaged,
  };
}

/** The clinic window. It is shown once its first page has rendered. */
export function mainWindowOptions(input: WindowOptionsInput): BrowserWindowConstructorOptions {
  return {
    title: 'Chairside',
    width: 1280,
    height: 800,
    minWidth: 960,
    minHeight: 600,
    show: false,
    backgroundColor: '#ffffff',
    webPreferences: secureWebPreferences(input),
  };
}

/** The small window that asks for the database passphrase or the recovery key. */
export function unlockWindowOptions(input: WindowOptionsInput): BrowserWindowConstructorOptions {
  return {
    title: 'Unlock Chairside',
    width: 480,
    height: 560,
    resizable: false,
    maximizable: false,
    fullscreenable: false,
    show: false,
    backgroundColor: '#ffffff',
    webPreferences: secureWebPreferences(input),
  };
}
