import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { buildChannelRegistry, defineChannel } from './channel.js';
import { channelNames, channels } from './registry.js';

const base = {
  summary: 'test',
  input: z.strictObject({}),
  output: z.strictObject({}),
  writes: false,
  audit: { action: 'x.y', entityType: 'clinic', purpose: 'administration', legalBasis: 'contract' },
} as const;

describe('channel contract', () => {
  it('refuses a channel declared without a permission', () => {
    expect(() => defineChannel({ ...base, name: 'test.noPermission', permission: undefined as never })).toThrow(
      /declares no permission/,
    );
  });

  it('refuses a name that is not group.verb', () => {
    expect(() => defineChannel({ ...base, name: 'NotAChannel', permission: 'session.self' })).toThrow(/group\.verb/);
  });

  it('refuses a public channel that asks for re-authentication', () => {
    expect(() => defineChannel({ ...base, name: 'test.odd', permission: 'public', reauth: true })).toThrow(/public/);
  });

  it('throws at start-up when two channels share a name', () => {
    const one = defineChannel({ ...base, name: 'test.same', permission: 'session.self' });
    expect(() => buildChannelRegistry([one, one])).toThrow(/declared twice/);
  });

  it('declares every registered channel with a permission, strict input and an audit action', () => {
    for (const name of channelNames) {
      const channel = channels[name];
      expect(channel.permission, name).toBeTruthy();
      expect(channel.audit.action, name).toBe(name);
      // Unknown keys are rejected by every input schema.
      expect(channel.input.safeParse({ unexpectedKey: 1 }).success, name).toBe(false);
    }
  });
});
