import { beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * preload/index.ts is the wiring file: it hands the bridge to contextBridge. The electron module
 * is replaced by a recording stand-in (contextBridge records what is exposed, ipcRenderer records
 * invokes), so the real wiring runs here in Node.
 */
const recording = vi.hoisted(() => ({
  exposed: [] as Array<{ key: string; api: unknown }>,
  invoked: [] as unknown[][],
}));

vi.mock('electron', () => ({
  contextBridge: {
    exposeInMainWorld: (key: string, api: unknown) => recording.exposed.push({ key, api }),
  },
  ipcRenderer: {
    invoke: async (...args: unknown[]) => {
      recording.invoked.push(args);
      return { ok: true, output: {} };
    },
    on: () => undefined,
    removeListener: () => undefined,
  },
}));

beforeEach(() => {
  recording.exposed.length = 0;
  recording.invoked.length = 0;
  vi.resetModules();
});

describe('clinic window preload', () => {
  it('exposes one object, window.chairside, with only invoke and onChange', async () => {
    await import('./index.js');
    expect(recording.exposed.map((entry) => entry.key)).toEqual(['chairside']);
    const api = recording.exposed[0]!.api as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual(['invoke', 'onChange']);
    expect(Object.values(api).every((value) => typeof value === 'function')).toBe(true);
  });

  it('refuses a channel that is not allow-listed', async () => {
    await import('./index.js');
    const api = recording.exposed[0]!.api as { invoke(channel: string, input: unknown): Promise<unknown> };
    expect(await api.invoke('shell.openExternal', { url: 'https://evil.example' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(recording.invoked).toEqual([]);
    await api.invoke('auth.session', {});
    expect(recording.invoked).toEqual([['chairside:invoke', 'auth.session', {}]]);
  });
});
