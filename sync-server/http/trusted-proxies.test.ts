import { describe, expect, it } from 'vitest';
import { isAddressOrCidr, trustedProxyListSchema } from './trusted-proxies.js';

describe('trusted proxy list', () => {
  it('accepts addresses and CIDR ranges of both families, trimmed', () => {
    expect(trustedProxyListSchema.parse(' 10.0.0.5, 10.1.0.0/16 ,::1,fd00::/8,')).toEqual([
      '10.0.0.5',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
    ]);
  });

  it('reads an empty setting as no trusted proxy', () => {
    expect(trustedProxyListSchema.parse('')).toEqual([]);
    expect(trustedProxyListSchema.parse(' , ')).toEqual([]);
  });

  it('refuses host names, out-of-range prefixes and malformed entries', () => {
    for (const entry of ['proxy.local', 'loopback', '10.0.0.0/33', '::/129', '10.0.0.1/8/8', '10.0.0/8', '10.0.0.1/']) {
      expect(isAddressOrCidr(entry)).toBe(false);
      expect(trustedProxyListSchema.safeParse(`10.0.0.1,${entry}`).success).toBe(false);
    }
  });
});
