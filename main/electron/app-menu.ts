/**
 * The application menu. Electron's default menu links to electronjs.org from Help and offers
 * developer tools; this one has only what a clinic needs: the standard edit commands (copy and
 * paste need them on macOS), zoom, window commands, and developer tools only in development.
 * No item opens a URL.
 */
import type { MenuItemConstructorOptions } from 'electron';

/** The menu template for a platform. */
export function applicationMenuTemplate(platform: NodeJS.Platform, isPackaged: boolean): MenuItemConstructorOptions[] {
  const view: MenuItemConstructorOptions[] = [
    { role: 'resetZoom' },
    { role: 'zoomIn' },
    { role: 'zoomOut' },
    { type: 'separator' },
    { role: 'togglefullscreen' },
    ...(isPackaged
      ? []
      : [{ type: 'separator' } as const, { role: 'reload' } as const, { role: 'toggleDevTools' } as const]),
  ];
  return [
    ...(platform === 'darwin' ? [{ role: 'appMenu' } as const] : [{ role: 'fileMenu' } as const]),
    { role: 'editMenu' },
    { label: 'View', submenu: view },
    { role: 'windowMenu' },
  ];
}
