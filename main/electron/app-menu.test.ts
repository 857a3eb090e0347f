import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { applicationMenuTemplate } from './app-menu.js';

// The template is plain data that main.ts hands to Menu.buildFromTemplate; no Electron (or
// stand-in for it) is needed to check it.

function flatten(items: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return items.flatMap((item) => [
    item,
    ...(Array.isArray(item.submenu) ? flatten(item.submenu as MenuItemConstructorOptions[]) : []),
  ]);
}

describe('application menu', () => {
  it('has no item that runs code of its own or opens a link', () => {
    for (const platform of ['darwin', 'win32', 'linux'] as const) {
      for (const item of flatten(applicationMenuTemplate(platform, true))) {
        expect(item.click).toBeUndefined();
        expect(item.role !== undefined || item.type === 'separator' || item.submenu !== undefined).toBe(true);
      }
    }
  });

  it('offers the edit commands, which macOS needs for copy and paste', () => {
    expect(applicationMenuTemplate('darwin', true).map((item) => item.role)).toContain('editMenu');
  });

  it('offers developer tools and reload only in development', () => {
    const roles = (isPackaged: boolean) =>
      flatten(applicationMenuTemplate('linux', isPackaged)).map((item) => item.role?.toLowerCase());
    expect(roles(true)).not.toContain('toggledevtools');
    expect(roles(true)).not.toContain('reload');
    expect(roles(false)).toContain('toggledevtools');
  });
});
