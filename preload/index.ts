/**
 * The preload of the clinic window: exposes the bridge as `window.chairside` and nothing else.
 * It runs sandboxed, so it is bundled into one file with the shared contract
 * (dist/preload/index.cjs, `npm run build:electron`); only `electron` stays a require.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { createBridge } from './bridge.js';

contextBridge.exposeInMainWorld('chairside', createBridge(ipcRenderer));
