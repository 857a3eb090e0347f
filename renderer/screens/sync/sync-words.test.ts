import { describe, expect, it } from 'vitest';
import { syncErrorWords } from './sync-words.js';

describe('sync error words', () => {
  it('tells that the server’s audit log lost entries this computer saw, as a security alert', () => {
    const words = syncErrorWords('SERVER_LOG_LOST_ENTRIES');
    expect(words).toContain('the sync server’s audit log lost entries that this computer saw');
    expect(words).toMatch(/^Security alert: /);
    expect(words).not.toBe(syncErrorWords('INTERNAL'));
  });

  it('tells a rewritten server log apart from one that lost entries', () => {
    const words = syncErrorWords('SERVER_LOG_INCONSISTENT');
    expect(words).toMatch(/^Security alert: /);
    expect(words).toContain('no longer matches the entries this computer saw');
  });

  it('names an unknown code instead of hiding it', () => {
    expect(syncErrorWords('SOMETHING_NEW')).toContain('(SOMETHING_NEW)');
  });
});
