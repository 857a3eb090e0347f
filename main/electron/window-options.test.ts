import { describe, expect, it } from 'vitest';
import { mainWindowOptions, secureWebPreferences, unlockWindowOptions } from './window-options.js';

// These options are plain data handed to a recording stand-in's BrowserWindow in main.ts; the
// test checks the data itself, so no Electron (or stand-in) is needed here.

describe('window options', () => {
  const packaged = { preloadPath: '/app/dist/preload/index.cjs', isPackaged: true };

  it('isolates and sandboxes the page with no Node integration anywhere', () => {
    const prefs = secureWebPreferences(packaged);
    expect(prefs).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
    });
  });

  it('keeps web security on and every relaxation off', () => {
    const prefs = secureWebPreferences(packaged);
    expect(prefs).toMatchObject({
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      spellcheck: false,
      navigateOnDragDrop: false,
    });
    expect(prefs).not.toHaveProperty('enableBlinkFeatures');
    expect(prefs).not.toHaveProperty('additionalArguments');
  });

  it('loads the given preload', () => {
    expect(secureWebPreferences(packaged).preload).toBe('/app/dist/preload/index.cjs');
  });

  it('has no developer tools in a packaged app, and has them in development', () => {
    expect(secureWebPreferences(packaged).devTools).toBe(false);
    expect(secureWebPreferences({ ...packaged, isPackaged: false }).devTools).toBe(true);
  });

  it('gives the clinic window and the unlock prompt the same web preferences', () => {
    expect(mainWindowOptions(packaged).webPreferences).toEqual(secureWebPreferences(packaged));
    expect(unlockWindowOptions(packaged).webPreferences).toEqual(secureWebPreferences(packaged));
  });

  it('shows a window only once its page has rendered', () => {
    expect(mainWindowOptions(packaged).show).toBe(false);
    expect(unlockWindowOptions(packaged).show).toBe(false);
  });
});
