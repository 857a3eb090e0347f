import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import {
  type CancellableNavigation,
  type HardenableSession,
  type HardenableWebContents,
  hardenSession,
  hardenWebContents,
  isAllowedNavigation,
} from './session-hardening.js';

/** A recording stand-in for Electron's WebContents: keeps the listeners and the window-open handler. */
class RecordingContents extends EventEmitter implements HardenableWebContents {
  windowOpenHandler: ((details: { url: string }) => { action: 'deny' }) | null = null;
  url = 'app://chairside/';

  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void {
    this.windowOpenHandler = handler;
  }

  /** Emits a navigation event and reports whether a listener prevented it. */
  navigate(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', url: string): boolean {
    let prevented = false;
    const details: CancellableNavigation = { url, preventDefault: () => (prevented = true) };
    this.emit(event, details);
    return prevented;
  }
}

/** A recording stand-in for Electron's Session: keeps the handlers it was given. */
function recordingSession() {
  const recorded: {
    request?: Parameters<HardenableSession['setPermissionRequestHandler']>[0];
    check?: Parameters<HardenableSession['setPermissionCheckHandler']>[0];
    device?: Parameters<HardenableSession['setDevicePermissionHandler']>[0];
    beforeRequest?: Parameters<HardenableSession['webRequest']['onBeforeRequest']>[0];
  } = {};
  const session: HardenableSession = {
    setPermissionRequestHandler: (handler) => (recorded.request = handler),
    setPermissionCheckHandler: (handler) => (recorded.check = handler),
    setDevicePermissionHandler: (handler) => (recorded.device = handler),
    webRequest: { onBeforeRequest: (listener) => (recorded.beforeRequest = listener) },
  };
  return { session, recorded };
}

function hardened(url = 'app://chairside/') {
  const contents = new RecordingContents();
  contents.url = url;
  hardenWebContents(contents, () => contents.url);
  return contents;
}

describe('navigation hardening', () => {
  it('prevents navigating to an external site', () => {
    const contents = hardened();
    expect(contents.navigate('will-navigate', 'https://evil.example/phish')).toBe(true);
    expect(contents.navigate('will-navigate', 'http://127.0.0.1:4310/')).toBe(true);
  });

  it('prevents navigating to local files and other schemes', () => {
    const contents = hardened();
    expect(contents.navigate('will-navigate', 'file:///etc/passwd')).toBe(true);
    expect(contents.navigate('will-navigate', 'javascript:alert(1)')).toBe(true);
    expect(contents.navigate('will-frame-navigate', 'data:text/html,<script>1</script>')).toBe(true);
  });

  it('allows navigating within the app origin', () => {
    const contents = hardened();
    expect(contents.navigate('will-navigate', 'app://chairside/index.html')).toBe(false);
    expect(contents.navigate('will-frame-navigate', 'app://chairside/')).toBe(false);
  });

  it('keeps the unlock prompt and the clinic window apart', () => {
    expect(hardened('app://unlock/').navigate('will-navigate', 'app://chairside/')).toBe(true);
    expect(hardened('app://chairside/').navigate('will-navigate', 'app://unlock/')).toBe(true);
    expect(isAllowedNavigation('app://unlock/', 'app://unlock/')).toBe(true);
  });

  it('prevents a redirect away from the app origin', () => {
    const contents = hardened();
    expect(contents.navigate('will-redirect', 'https://evil.example/')).toBe(true);
    expect(contents.navigate('will-redirect', 'app://chairside/index.html')).toBe(false);
  });

  it('refuses look-alike origins', () => {
    const contents = hardened();
    expect(contents.navigate('will-navigate', 'app://chairside.evil.example/')).toBe(true);
    expect(contents.navigate('will-navigate', 'app://user@chairside/')).toBe(true);
    expect(contents.navigate('will-navigate', 'app://chairside:8080/')).toBe(true);
  });

  it('denies every new window, same origin included', () => {
    const contents = hardened();
    expect(contents.windowOpenHandler?.({ url: 'https://evil.example/' })).toEqual({ action: 'deny' });
    expect(contents.windowOpenHandler?.({ url: 'app://chairside/' })).toEqual({ action: 'deny' });
  });

  it('prevents attaching a webview', () => {
    const contents = hardened();
    let prevented = false;
    contents.emit('will-attach-webview', { preventDefault: () => (prevented = true) }, {}, {});
    expect(prevented).toBe(true);
  });
});

describe('session hardening', () => {
  it('denies every permission request', () => {
    const { session, recorded } = recordingSession();
    hardenSession(session);
    for (const permission of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read', 'unknown']) {
      const answers: boolean[] = [];
      recorded.request?.({}, permission, (granted) => answers.push(granted));
      expect(answers, permission).toEqual([false]);
    }
  });

  it('answers every permission check and device request with no', () => {
    const { session, recorded } = recordingSession();
    hardenSession(session);
    expect(recorded.check?.({}, 'media')).toBe(false);
    expect(recorded.check?.(null, 'clipboard-sanitized-write')).toBe(false);
    expect(recorded.device?.({ deviceType: 'usb' })).toBe(false);
  });

  it('cancels every request that leaves the app protocol', () => {
    const { session, recorded } = recordingSession();
    hardenSession(session);
    const cancelled = (url: string) => {
      let answer: boolean | undefined;
      recorded.beforeRequest?.({ url }, (response) => (answer = response.cancel));
      return answer;
    };
    expect(cancelled('https://fonts.example/font.woff2')).toBe(true);
    expect(cancelled('http://127.0.0.1:4310/api/auth.signIn')).toBe(true);
    expect(cancelled('wss://evil.example/')).toBe(true);
    expect(cancelled('file:///etc/passwd')).toBe(true);
    expect(cancelled('app://chairside/assets/index.js')).toBe(false);
    expect(cancelled('data:image/png;base64,AAAA')).toBe(false);
  });
});
