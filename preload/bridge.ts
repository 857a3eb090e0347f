/**
 * The object the preload exposes to the renderer as `window.chairside`: `invoke` for the
 * channels of the API contract and nothing else, and `onChange` to hear about committed writes.
 * It holds no token and offers no Node API and no general ipcRenderer; the renderer can send
 * exactly one kind of message, and main checks that too. ipcRenderer is passed in, so this runs
 * under test with a recording stand-in.
 */
import {
  type ChairsideBridge,
  type ChangeEvent,
  IPC_CHANGED,
  IPC_INVOKE,
  type InvokeResponse,
} from '../shared/api/bridge.js';
import { type ChannelName, channelNames } from '../shared/api/registry.js';

/** The parts of Electron's ipcRenderer the bridge uses. */
export interface IpcRendererLike {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

/** The answer for a channel the bridge does not carry; main would refuse it the same way. */
const NOT_ALLOWED = {
  ok: false,
  error: { code: 'NOT_FOUND', message: 'There is no such operation.' },
} as const;

/** Builds the bridge over an ipcRenderer; `allowed` is the channel allow-list (every channel of the contract). */
export function createBridge(
  ipc: IpcRendererLike,
  allowed: ReadonlySet<string> = new Set<string>(channelNames),
): ChairsideBridge {
  return {
    async invoke<K extends ChannelName>(channel: K, input: unknown): Promise<InvokeResponse<K>> {
      if (typeof channel !== 'string' || !allowed.has(channel)) return NOT_ALLOWED;
      return (await ipc.invoke(IPC_INVOKE, channel, input)) as InvokeResponse<K>;
    },
    onChange(listener: (event: ChangeEvent) => void): () => void {
      // The IPC event is never handed on: it carries `sender`, the ipcRenderer itself.
      const relay = (_event: unknown, change: unknown): void => {
        const parsed = parseChange(change, allowed);
        if (parsed) listener(parsed);
      };
      ipc.on(IPC_CHANGED, relay);
      return () => {
        ipc.removeListener(IPC_CHANGED, relay);
      };
    },
  } satisfies ChairsideBridge;
}

/** A fresh copy of a change event with exactly its two fields, or null for anything else. */
function parseChange(value: unknown, allowed: ReadonlySet<string>): ChangeEvent | null {
  if (typeof value !== 'object' || value === null) return null;
  const { channel, entityType } = value as Record<string, unknown>;
  if (typeof channel !== 'string' || !allowed.has(channel) || typeof entityType !== 'string') return null;
  return { channel: channel as ChannelName, entityType };
}
