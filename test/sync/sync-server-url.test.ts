import { describe, expect, it } from 'vitest';
import { syncServerUrlSchema } from '../../shared/api/sync.js';

describe('sync server URL', () => {
  it('accepts https anywhere and plain http on loopback hosts only, normalised', () => {
    expect(syncServerUrlSchema.parse('https://Sync.Example.com/')).toBe('https://sync.example.com');
    expect(syncServerUrlSchema.parse('https://sync.example.com:8443/chairside/')).toBe(
      'https://sync.example.com:8443/chairside',
    );
    expect(syncServerUrlSchema.parse('http://127.0.0.1:8443')).toBe('http://127.0.0.1:8443');
    expect(syncServerUrlSchema.parse('http://localhost:9000/')).toBe('http://localhost:9000');
    expect(syncServerUrlSchema.parse('http://[::1]:9000')).toBe('http://[::1]:9000');
  });

  it('refuses plain http elsewhere, other schemes, credentials, queries and fragments', () => {
    for (const url of [
      'http://sync.example.com',
      'http://192.168.1.10:8443',
      'http://localhost.evil.com',
      'ftp://sync.example.com',
      'https://user:secret@sync.example.com',
      'https://sync.example.com/?clinic=1',
      'https://sync.example.com/#x',
      'sync.example.com',
    ]) {
      expect(syncServerUrlSchema.safeParse(url).success, url).toBe(false);
    }
  });
});
