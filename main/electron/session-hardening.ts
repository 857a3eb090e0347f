/**
 * Locks down what web content may do, whatever it is (Electron's security checklist, items
 * 5, 13, 14, 15 and 12; see docs/electron-security.md): no navigation away from the app's own
 * pages, no new windows, no <webview>, no permission ever granted, and no request that leaves
 * the app's protocol. The session and web contents are passed in, so this runs under test with a
 * recording stand-in for Electron.
 */
import { parseAppUrl } from './app-origin.js';
import { createLogger } from '../core/logger.js';

const log = createLogger('electron-hardening');

/** An event a navigation listener can cancel. */
export interface CancellableNavigation {
  readonly url: string;
  preventDefault(): void;
}

/** The parts of Electron's WebContents the hardening uses. */
export interface HardenableWebContents {
  on(event: 'will-navigate', listener: (event: CancellableNavigation) => void): unknown;
  on(event: 'will-redirect', listener: (event: CancellableNavigation) => void): unknown;
  on(event: 'will-frame-navigate', listener: (event: CancellableNavigation) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

/** The parts of Electron's Session the hardening uses. */
export interface HardenableSession {
  setPermissionRequestHandler(
    handler: (webContents: unknown, permission: string, callback: (granted: boolean) => void) => void,
  ): void;
  setPermissionCheckHandler(handler: (webContents: unknown, permission: string) => boolean): void;
  setDevicePermissionHandler(handler: (details: unknown) => boolean): void;
  readonly webRequest: {
    onBeforeRequest(
      listener: (details: { url: string }, callback: (response: { cancel: boolean }) => void) => void,
    ): void;
  };
}

/**
 * True when a page may navigate to the URL: only to a page of the same app host it is on (the
 * clinic UI stays in the clinic UI, the unlock prompt in the prompt). Everything else, http(s)
 * and file: included, is refused.
 */
export function isAllowedNavigation(fromUrl: string, toUrl: string): boolean {
  const from = parseAppUrl(fromUrl);
  const to = parseAppUrl(toUrl);
  return from !== null && to !== null && from.host === to.host;
}

/**
 * True for a request the app's own pages may make: the app protocol, and the in-page `data:`
 * and `blob:` URLs the CSP already limits. DevTools' own pages only exist in development.
 */
export function isAllowedRequest(url: string): boolean {
  if (parseAppUrl(url) !== null) return true;
  return url.startsWith('data:') || url.startsWith('blob:') || url.startsWith('devtools:');
}

/**
 * Hardens one web contents (call it from `app.on('web-contents-created')`, so every one is
 * covered). `currentUrl` reads the page it is on when a navigation starts.
 */
export function hardenWebContents(contents: HardenableWebContents, currentUrl: () => string): void {
  const guard =
    (kind: string) =>
    (event: CancellableNavigation): void => {
      if (isAllowedNavigation(currentUrl(), event.url)) return;
      event.preventDefault();
      log.warn('navigation refused', { kind, scheme: schemeOf(event.url) });
    };
  contents.on('will-navigate', guard('will-navigate'));
  contents.on('will-redirect', guard('will-redirect'));
  contents.on('will-frame-navigate', guard('will-frame-navigate'));
  // No window.open, no target=_blank, and no opening links in the system browser: a clinic UI
  // has no reason to, and shell.openExternal with page-controlled URLs is how RCEs start.
  contents.setWindowOpenHandler((details) => {
    log.warn('new window refused', { scheme: schemeOf(details.url) });
    return { action: 'deny' };
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    log.warn('webview refused');
  });
}

/** Hardens the session the windows use: every permission denied, every foreign request cancelled. */
export function hardenSession(session: HardenableSession): void {
  session.setPermissionRequestHandler((_webContents, permission, callback) => {
    log.warn('permission request refused', { permission });
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  // Belt and braces behind the CSP: a request for anything but the app's own protocol never
  // leaves the machine, even if a page's policy were to let it. (electron-updater uses its own
  // session partition, so updates are not affected.)
  session.webRequest.onBeforeRequest((details, callback) => {
    const allowed = isAllowedRequest(details.url);
    if (!allowed) log.warn('request refused', { scheme: schemeOf(details.url) });
    callback({ cancel: !allowed });
  });
}

/** The scheme of a URL for logs: never the rest, which could carry data. */
function schemeOf(url: string): string {
  const match = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return match ? match[1]!.toLowerCase() : 'invalid';
}
