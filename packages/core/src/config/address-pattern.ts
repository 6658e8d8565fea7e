import { createRequire } from 'node:module';
import type IpAddr from 'ipaddr.js';

/**
 * What an item of an address list setting may be (`--forwarded-allow-ips`, `--proxy-allow-from`):
 * `*`, an IP address or a CIDR range. Checked with ipaddr.js, as http/forwarded.ts matches them.
 */

let loaded: typeof IpAddr | undefined;
/** Required on first use, as in http/forwarded.ts: a process that never checks a list never loads it. */
function ipaddrModule(): typeof IpAddr {
  loaded ??= createRequire(import.meta.url)('ipaddr.js') as typeof IpAddr;
  return loaded;
}

/** An IPv4 address in dotted-quad form, or an IPv6 address (ipaddr.js also takes `1.2.3`, `0x7f.1`...). */
function isPlainAddress(text: string): boolean {
  const ipaddr = ipaddrModule();
  return ipaddr.IPv4.isValidFourPartDecimal(text) || ipaddr.IPv6.isValid(text);
}

/** Whether one list item is `*`, an IP address, or a CIDR range. */
export function isAddressPattern(text: string): boolean {
  if (text === '*') return true;
  if (!text.includes('/')) return isPlainAddress(text);
  const [address = ''] = text.split('/');
  if (!isPlainAddress(address)) return false;
  try {
    ipaddrModule().parseCIDR(text);
    return true;
  } catch {
    return false;
  }
}
