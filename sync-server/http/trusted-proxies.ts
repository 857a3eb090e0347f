/**
 * The trusted-proxy setting as an operator writes it (`--trusted-proxy` or
 * CHAIRSIDE_SYNC_TRUSTED_PROXIES): a comma-separated list of the addresses or CIDR ranges of the
 * reverse proxies in front of the server. Only a request whose peer is one of them has its
 * X-Forwarded-For believed (server.ts `trustedProxies`); the brute-force limits key on the
 * address that header names, so a wrong entry either lets clients pick their own address (too
 * wide) or puts every device behind the proxy in one budget (missing). Hence the strict parse.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** The environment variable that can hold the list. */
export const TRUSTED_PROXIES_ENV = 'CHAIRSIDE_SYNC_TRUSTED_PROXIES';

const MAX_ENTRIES = 64;

/** True for an IPv4/IPv6 address, or one with a prefix length its family allows (`10.0.0.0/8`). */
export function isAddressOrCidr(entry: string): boolean {
  const [address, prefix, extra] = entry.split('/');
  if (address === undefined || extra !== undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^[0-9]{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The list as given: entries trimmed, empty entries dropped, each an address or CIDR range. */
export const trustedProxyListSchema = z
  .string()
  .transform((text) =>
    text
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry.length > 0),
  )
  .pipe(
    z
      .array(z.string().refine(isAddressOrCidr, 'must be an IP address or CIDR range, such as 10.0.0.5 or 10.0.0.0/24'))
      .max(MAX_ENTRIES),
  );
