/**
 * The trusted-proxy option end to end: the CLI's `--trusted-proxy` flag and
 * CHAIRSIDE_SYNC_TRUSTED_PROXIES reach the server, whose brute-force limits then key on the client
 * a trusted proxy names, and on the peer otherwise. Over real HTTP from 127.0.0.1 (the proxy).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeBase64 } from '../../shared/merkle/base64.js';
import { commandResult } from '../../test/support/sync-server/test-process.js';
import { DEFAULT_RATE_LIMITS } from '../auth/rate-limits.js';
import { PROTOCOL_HEADER, SYNC_PROTOCOL_VERSION } from './protocol.js';
import { TRUSTED_PROXIES_ENV } from './trusted-proxies.js';

const ENTRY = 'sync-server/cli/main.ts';
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const step of cleanup.splice(0).reverse()) step();
});

function start(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  const { CHAIRSIDE_SYNC_MASTER_KEY: _key, [TRUSTED_PROXIES_ENV]: _proxies, ...env } = process.env;
  const dir = mkdtempSync(join(tmpdir(), 'chairside-trusted-proxy-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return spawn(process.execPath, ['--import', 'tsx', ENTRY, '--data-dir', dir, '--port', '0', ...args], {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Starts a server and resolves to its URL and the trusted proxies its listening line names. */
async function serve(args: string[], extraEnv: Record<string, string> = {}) {
  const server = start(args, extraEnv);
  cleanup.push(() => server.kill('SIGKILL'));
  return new Promise<{ url: string; trustedProxies: string[] }>((resolve, reject) => {
    let output = '';
    server.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const line = output.split('\n').find((entry) => entry.includes('"event":"listening"'));
      if (line) resolve(JSON.parse(line) as { url: string; trustedProxies: string[] });
    });
    server.on('close', () => reject(new Error(`server exited: ${output}`)));
  });
}

/** A token request that fails (a forged challenge), as the client `forwardedFor` behind 127.0.0.1. */
async function failedTokenRequest(url: string, forwardedFor: string): Promise<number> {
  const response = await fetch(`${url}/v1/auth/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      [PROTOCOL_HEADER]: String(SYNC_PROTOCOL_VERSION),
      'x-forwarded-for': forwardedFor,
    },
    body: JSON.stringify({
      clinicId: randomUUID(),
      deviceId: 'front-desk-1',
      challenge: 'c1.forged.forged',
      signature: encodeBase64(new Uint8Array(64)),
    }),
  });
  return response.status;
}

/** Spends one client's whole failure budget; resolves to the status of the answer after it. */
async function spendBudget(url: string, forwardedFor: string): Promise<number> {
  for (let i = 0; i < DEFAULT_RATE_LIMITS.failuresPerAddress.points; i++) {
    expect(await failedTokenRequest(url, forwardedFor)).toBe(401);
  }
  return failedTokenRequest(url, forwardedFor);
}

describe('trusted-proxy option of the sync server command line', () => {
  it('ignores X-Forwarded-For unless a proxy is configured: every client of the peer shares its budget', async () => {
    const { url, trustedProxies } = await serve([]);
    expect(trustedProxies).toEqual([]);
    expect(await spendBudget(url, '203.0.113.1')).toBe(429);
    expect(await failedTokenRequest(url, '203.0.113.2')).toBe(429);
  });

  it('gives each client of a proxy named by --trusted-proxy its own budget', async () => {
    const { url, trustedProxies } = await serve(['--trusted-proxy', '127.0.0.1,::1']);
    expect(trustedProxies).toEqual(['127.0.0.1', '::1']);
    expect(await spendBudget(url, '203.0.113.1')).toBe(429);
    expect(await failedTokenRequest(url, '203.0.113.2')).toBe(401);
  });

  it(`takes the proxies from ${TRUSTED_PROXIES_ENV} when the flag is absent`, async () => {
    const { url, trustedProxies } = await serve([], { [TRUSTED_PROXIES_ENV]: '127.0.0.0/8' });
    expect(trustedProxies).toEqual(['127.0.0.0/8']);
    expect(await spendBudget(url, '203.0.113.1')).toBe(429);
    expect(await failedTokenRequest(url, '203.0.113.2')).toBe(401);
  });

  it('refuses a proxy that is not an address or CIDR range, from the flag or the environment', async () => {
    const flag = await commandResult(start(['--trusted-proxy', 'proxy.internal']));
    expect(flag.code).toBe(2);
    expect(JSON.parse(flag.stderr).error.message).toContain('--trusted-proxy');
    const fromEnv = await commandResult(start([], { [TRUSTED_PROXIES_ENV]: '10.0.0.0/33' }));
    expect(fromEnv.code).toBe(2);
    expect(JSON.parse(fromEnv.stderr).error.message).toContain(TRUSTED_PROXIES_ENV);
  });
});
