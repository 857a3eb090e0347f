import { describe, expect, it } from 'vitest';
import { addressKey } from './rate-limits.js';

describe('addressKey', () => {
  it('counts an IPv4 address as itself, however it is written', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:c000:207')).toBe('192.0.2.7');
  });

  it('counts every address of one IPv6 /64 as one', () => {
    const key = '2001:db8:0:1::/64';
    for (const address of ['2001:db8:0:1::1', '2001:db8::1:ffff:ffff:ffff:ffff', '2001:0db8:0000:0001:a:b:c:d']) {
      expect(addressKey(address)).toBe(key);
    }
    expect(addressKey('2001:db8:0:2::1')).not.toBe(key);
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('2001:db8::')).toBe('2001:db8:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.7')).toBe('64:ff9b:0:0::/64');
  });

  it('leaves anything that is not an IP address as it is', () => {
    expect(addressKey('unknown')).toBe('unknown');
  });
});
