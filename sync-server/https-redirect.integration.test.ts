import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpsRedirectServer, httpsLocation } from './https-redirect.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'chairside-redirect-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A self-signed certificate for 127.0.0.1, as files. */
function certificateFiles(): { cert: string; key: string } {
  const dir = tempDir();
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  if (made.status !== 0) throw new Error('openssl failed');
  return { cert, key };
}

interface PlainAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One plain-HTTP request; `host` overrides the Host header. */
function plainRequest(port: number, path: string, options: { method?: string; host?: string; body?: string } = {}) {
  return new Promise<PlainAnswer>((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: {
          ...(options.host === undefined ? {} : { host: options.host }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

// Each test spawns the CLI (tsx) several times: slow on a loaded 2-core machine.
describe('HTTP to HTTPS redirect listener', { timeout: 120_000 }, () => {
  it('answers 308 to the same path and query on the HTTPS port, with an empty body', async () => {
    const server = createHttpsRedirectServer({ httpsPort: 8443, fallbackHost: '127.0.0.1' });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const port = (server.address() as AddressInfo).port;

    const get = await plainRequest(port, '/v1/changes?after=5', { host: `sync.example.test:${port}` });
    expect(get.status).toBe(308);
    expect(get.headers.location).toBe('https://sync.example.test:8443/v1/changes?after=5');
    expect(get.body).toBe('');
    expect(get.headers['content-length']).toBe('0');

    const post = await plainRequest(port, '/v1/auth/token', { method: 'POST', body: '{"challenge":"c1.x.y"}' });
    expect(post.status).toBe(308);
    expect(post.headers.location).toBe('https://127.0.0.1:8443/v1/auth/token');
    expect(post.body).toBe('');
  });

  it('names the fallback host when the Host header is not a plain host name', () => {
    const options = { httpsPort: 443, fallbackHost: 'sync.clinic.test' };
    const forged = httpsLocation({ headers: { host: 'evil.test/\r\nSet-Cookie: x=1' }, url: '/health' }, options);
    expect(forged).toBe('https://sync.clinic.test/health');
    expect(httpsLocation({ headers: {}, url: 'http://elsewhere.test/x' }, options)).toBe('https://sync.clinic.test/');
    expect(httpsLocation({ headers: { host: '[::1]:80' }, url: '/ready' }, { ...options, httpsPort: 8443 })).toBe(
      'https://[::1]:8443/ready',
    );
  });

  it.skipIf(!hasOpenssl)('is started by the CLI beside the TLS server and never serves the API itself', async () => {
    const { cert, key } = certificateFiles();
    const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
    const args = ['--data-dir', tempDir(), '--port', '0', '--tls-cert', cert, '--tls-key', key];
    const server: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', 'sync-server/cli/main.ts', ...args, '--redirect-http', '0'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanup.push(() => {
      server.kill('SIGKILL');
    });
    const { from, to } = await new Promise<{ from: string; to: string }>((resolve, reject) => {
      let output = '';
      server.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        const match = /"event":"redirecting","from":"([^"]+)","to":"([^"]+)"/.exec(output);
        if (match) resolve({ from: match[1]!, to: match[2]! });
      });
      server.on('close', () => reject(new Error(`server exited: ${output}`)));
    });
    const redirectPort = Number(new URL(from).port);
    const answer = await plainRequest(redirectPort, '/health');
    expect(answer.status).toBe(308);
    expect(answer.headers.location).toBe(`${to}/health`);
    expect(answer.body).toBe('');

    // Following the redirect reaches the API over TLS, with HSTS.
    const followed = await new Promise<{ status: number; hsts: unknown }>((resolve, reject) => {
      const req = httpsRequest(String(answer.headers.location), { ca: readFileSync(cert) }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, hsts: res.headers['strict-transport-security'] });
      });
      req.on('error', reject);
      req.end();
    });
    expect(followed.status).toBe(200);
    expect(followed.hsts).toEqual(expect.stringContaining('max-age='));
  });

  it('refuses --redirect-http without TLS', async () => {
    const { CHAIRSIDE_SYNC_MASTER_KEY: _key, CHAIRSIDE_SYNC_PG_URL: _pg, ...env } = process.env;
    const result = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'sync-server/cli/main.ts', '--data-dir', tempDir(), '--port', '0', '--redirect-http', '0'],
      { env, encoding: 'utf8' },
    );
    expect(result.status, result.stderr).toBe(2);
    const envelope = result.stderr.split('\n').find((line) => line.startsWith('{"error"'));
    expect(JSON.parse(envelope ?? '{}')).toEqual({
      error: { code: 'usage', message: expect.stringContaining('--redirect-http needs --tls-cert') },
    });
  });
});
