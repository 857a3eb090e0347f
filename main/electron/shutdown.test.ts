import { describe, expect, it } from 'vitest';
import { createShutdown } from './shutdown.js';

// main.ts calls the shutdown from Electron's before-quit and window-all-closed events and from an
// update's restart; here recording stand-ins play the IPC transport and the core, and the test
// plays those events by calling it.

function recordingParts() {
  const log: string[] = [];
  let releaseTransport: () => void = () => {};
  const transport = {
    close: () =>
      new Promise<void>((resolve) => {
        log.push('transport.close');
        releaseTransport = () => {
          log.push('transport.closed');
          resolve();
        };
      }),
  };
  const core = {
    close: async () => {
      log.push('core.close');
    },
  };
  return { log, transport, core, releaseTransport: () => releaseTransport() };
}

describe('shutdown', () => {
  it('closes the core exactly once, however many events ask', async () => {
    const parts = recordingParts();
    const shutdown = createShutdown(() => parts);
    const first = shutdown(); // before-quit
    const second = shutdown(); // window-all-closed
    expect(second).toBe(first);
    parts.releaseTransport();
    await Promise.all([first, second, shutdown()]);
    expect(parts.log.filter((entry) => entry === 'core.close')).toHaveLength(1);
  });

  it('closes the core only after the transport finished its running calls', async () => {
    const parts = recordingParts();
    const done = createShutdown(() => parts)();
    await Promise.resolve();
    expect(parts.log).toEqual(['transport.close']);
    parts.releaseTransport();
    await done;
    expect(parts.log).toEqual(['transport.close', 'transport.closed', 'core.close']);
  });

  it('works before the clinic was opened (quitting at the unlock prompt)', async () => {
    await expect(createShutdown(() => ({ transport: null, core: null }))()).resolves.toBeUndefined();
  });

  it('still closes the core when the transport fails to close, and never rejects', async () => {
    const log: string[] = [];
    const shutdown = createShutdown(() => ({
      transport: { close: async () => Promise.reject(new Error('boom')) },
      core: {
        close: async () => {
          log.push('core.close');
          throw new Error('disk gone');
        },
      },
    }));
    await expect(shutdown()).resolves.toBeUndefined();
    expect(log).toEqual(['core.close']);
  });
});
