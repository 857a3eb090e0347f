/**
 * The part of Electron's renderer API a sandboxed preload may use, declared here so preload/
 * type-checks with DOM types only: Electron's own electron.d.ts references @types/node, which
 * would offer Node globals that a sandboxed preload does not have. preload/tsconfig.json maps
 * the `electron` import to this file; the declarations follow Electron 39's contextBridge and
 * ipcRenderer for the members listed.
 */

/** The event ipcRenderer listeners receive; never handed to the page (its `sender` is ipcRenderer). */
export interface IpcRendererEvent {
  readonly sender: IpcRenderer;
  readonly ports: readonly MessagePort[];
}

export interface IpcRenderer {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): this;
  removeListener(channel: string, listener: (event: IpcRendererEvent, ...args: unknown[]) => void): this;
}

export interface ContextBridge {
  exposeInMainWorld(apiKey: string, api: unknown): void;
}

export declare const ipcRenderer: IpcRenderer;
export declare const contextBridge: ContextBridge;
