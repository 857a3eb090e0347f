import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY as BROWSER_HOST_CSP } from '../browser-host/security-headers.js';
import {
  APP_SCHEME_PRIVILEGES,
  CONTENT_SECURITY_POLICY,
  contentTypeOf,
  createAppProtocolHandler,
  safePathSegments,
} from './app-protocol.js';
import { UNLOCK_PAGE_FILES } from './unlock-page.js';

// protocol.handle hands the handler a fetch Request and sends its Response to Chromium; Node has
// both classes, so the handler is called directly here, where a recording stand-in for Electron's
// protocol module would only pass the request through.

let root: string;
let rendererDir: string;
let handler: (request: Request) => Promise<Response>;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'chairside-protocol-'));
  rendererDir = join(root, 'renderer');
  mkdirSync(join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(join(rendererDir, 'index.html'), '<!doctype html><script type="module" src="/assets/app.js"></script>');
  writeFileSync(join(rendererDir, 'assets', 'app.js'), 'console.log(1);');
  writeFileSync(join(rendererDir, 'assets', 'app.css'), 'body{}');
  writeFileSync(join(rendererDir, '.env'), 'SECRET=1');
  writeFileSync(join(root, 'secret.txt'), 'outside the renderer');
  handler = createAppProtocolHandler({ rendererDir, inMemoryHosts: { unlock: UNLOCK_PAGE_FILES } });
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

const get = (url: string, method = 'GET') => handler(new Request(url, { method }));

describe('app protocol', () => {
  it('serves index.html at the app root, as HTML', async () => {
    const response = await get('app://chairside/');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await response.text()).toContain('/assets/app.js');
  });

  it('serves assets with their MIME types', async () => {
    const script = await get('app://chairside/assets/app.js');
    expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(await script.text()).toBe('console.log(1);');
    expect((await get('app://chairside/assets/app.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(contentTypeOf('font.woff2')).toBe('font/woff2');
    expect(contentTypeOf('unknown.bin')).toBe('application/octet-stream');
  });

  it('puts the strict CSP and nosniff on every response, errors included', async () => {
    for (const url of [
      'app://chairside/',
      'app://chairside/assets/app.js',
      'app://chairside/missing',
      'app://unlock/',
    ]) {
      const response = await get(url);
      expect(response.headers.get('content-security-policy'), url).toBe(CONTENT_SECURITY_POLICY);
      expect(response.headers.get('x-content-type-options'), url).toBe('nosniff');
    }
  });

  it('uses the same CSP as the browser host, without unsafe-inline or unsafe-eval', () => {
    expect(CONTENT_SECURITY_POLICY).toBe(BROWSER_HOST_CSP);
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).toContain("object-src 'none'");
    expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
  });

  it('refuses path traversal out of the renderer directory', async () => {
    for (const url of [
      'app://chairside/..%2Fsecret.txt',
      'app://chairside/assets/..%2F..%2Fsecret.txt',
      'app://chairside/%2e%2e/secret.txt',
      'app://chairside/assets/..%5C..%5Csecret.txt',
      'app://chairside/%2E%2E%2F%2E%2E%2Fsecret.txt',
      'app://chairside/C:%5Cwindows%5Cwin.ini',
      'app://chairside/%00index.html',
      'app://chairside/%E0%A4%A',
    ]) {
      const response = await get(url);
      expect(response.status, url).toBe(404);
      expect(await response.text(), url).not.toContain('outside the renderer');
    }
  });

  it('does not follow a symbolic link that points out of the build', async () => {
    symlinkSync(join(root, 'secret.txt'), join(rendererDir, 'assets', 'link.txt'));
    expect((await get('app://chairside/assets/link.txt')).status).toBe(404);
  });

  it('refuses dotfiles and directories', async () => {
    expect((await get('app://chairside/.env')).status).toBe(404);
    expect((await get('app://chairside/assets')).status).toBe(404);
    expect(safePathSegments('/a/.git/config')).toBeNull();
  });

  it('refuses other hosts and other methods', async () => {
    expect((await get('app://evil/')).status).toBe(404);
    expect((await get('app://chairside/', 'POST')).status).toBe(405);
    expect((await get('app://chairside/', 'HEAD')).status).toBe(200);
  });

  it('serves the unlock page from memory on its own host only', async () => {
    const page = await get('app://unlock/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="unlock-form"');
    expect((await get('app://unlock/unlock.css')).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await get('app://unlock/index.html')).status).toBe(404);
    expect((await get('app://unlock/../chairside/')).status).toBe(404);
  });

  it('gives the unlock page no script and its inputs no names to submit', () => {
    const html = UNLOCK_PAGE_FILES['/']!.body;
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\bname=/);
  });

  it('registers the scheme as standard and secure, without bypassing the CSP or enabling CORS', () => {
    expect(APP_SCHEME_PRIVILEGES.privileges).toEqual({ standard: true, secure: true, supportFetchAPI: true });
  });
});
