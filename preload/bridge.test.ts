import { describe, expect, it } from 'vitest';
import { IPC_CHANGED, IPC_INVOKE } from '../shared/api/bridge.js';
import { channelNames } from '../shared/api/registry.js';
import { type IpcRendererLike, createBridge } from './bridge.js';

type Listener = (event: unknown, ...args: unknown[]) => void;

/** A recording stand-in for Electron's ipcRenderer: records invokes and listeners; a test emits messages. */
function recordingIpcRenderer(answer: unknown = { ok: true, output: { state: 'new' } }) {
  const invoked: unknown[][] = [];
  const listeners = new Map<string, Set<Listener>>();
  const ipc: IpcRendererLike = {
    async invoke(channel, ...args) {
      invoked.push([channel, ...args]);
      return answer;
    },
    on(channel, listener) {
      if (!listeners.has(channel)) listeners.set(channel, new Set());
      listeners.get(channel)!.add(listener);
    },
    removeListener(channel, listener) {
      listeners.get(channel)?.delete(listener);
    },
  };
  const fakeEvent = { sender: ipc, senderId: 0 };
  const emit = (channel: string, payload: unknown) => {
    for (const listener of listeners.get(channel) ?? []) listener(fakeEvent, payload);
  };
  return { ipc, invoked, listeners, emit };
}

describe('preload bridge', () => {
  it('exposes only invoke and onChange', () => {
    expect(Object.keys(createBridge(recordingIpcRenderer().ipc)).sort()).toEqual(['invoke', 'onChange']);
  });

  it('sends an allow-listed channel over the one invoke channel and returns main’s answer', async () => {
    const { ipc, invoked } = recordingIpcRenderer();
    const bridge = createBridge(ipc);
    expect(await bridge.invoke('setup.status', {})).toEqual({ ok: true, output: { state: 'new' } });
    expect(invoked).toEqual([[IPC_INVOKE, 'setup.status', {}]]);
  });

  it('allows every channel of the contract and nothing else', async () => {
    const { ipc, invoked } = recordingIpcRenderer();
    const bridge = createBridge(ipc);
    for (const channel of channelNames) await bridge.invoke(channel, {} as never);
    expect(invoked.map((call) => call[1])).toEqual(channelNames);
  });

  it('refuses a channel that is not allow-listed without sending anything', async () => {
    const { ipc, invoked } = recordingIpcRenderer();
    const bridge = createBridge(ipc);
    for (const channel of ['chairside:invoke', 'patients.dropAll', '__proto__', 'constructor']) {
      expect(await bridge.invoke(channel as never, {} as never)).toEqual({
        ok: false,
        error: { code: 'NOT_FOUND', message: 'There is no such operation.' },
      });
    }
    expect(await bridge.invoke(42 as never, {} as never)).toMatchObject({ ok: false });
    expect(invoked).toEqual([]);
  });

  it('passes change events to a listener without the IPC event, and stops on unsubscribe', () => {
    const { ipc, emit, listeners } = recordingIpcRenderer();
    const bridge = createBridge(ipc);
    const seen: unknown[][] = [];
    const unsubscribe = bridge.onChange((...args) => seen.push(args));
    emit(IPC_CHANGED, { channel: 'patients.create', entityType: 'patient', extra: 'dropped' });
    expect(seen).toEqual([[{ channel: 'patients.create', entityType: 'patient' }]]);
    unsubscribe();
    emit(IPC_CHANGED, { channel: 'patients.create', entityType: 'patient' });
    expect(seen).toHaveLength(1);
    expect(listeners.get(IPC_CHANGED)?.size).toBe(0);
  });

  it('drops change events that are not of the expected shape', () => {
    const { ipc, emit } = recordingIpcRenderer();
    const seen: unknown[] = [];
    createBridge(ipc).onChange((event) => seen.push(event));
    emit(IPC_CHANGED, null);
    emit(IPC_CHANGED, { channel: 'patients.dropAll', entityType: 'patient' });
    emit(IPC_CHANGED, { channel: 'patients.create', entityType: 7 });
    expect(seen).toEqual([]);
  });
});
