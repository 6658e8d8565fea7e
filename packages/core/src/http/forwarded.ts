import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type IpAddr from 'ipaddr.js';

/**
 * Trust in forwarded headers (`--forwarded-allow-ips`): which peers may speak for the client.
 * Addresses and CIDR ranges are matched with ipaddr.js; IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`,
 * what a dual-stack socket reports) match their IPv4 form.
 */

type IpAddrModule = typeof IpAddr;
let loaded: IpAddrModule | undefined;
/**
 * ipaddr.js is required on first use: it is CommonJS, and the first CommonJS module a process
 * loads costs megabytes of RSS, which a worker serving a plain app should not pay.
 */
function ipaddrModule(): IpAddrModule {
  loaded ??= createRequire(import.meta.url)('ipaddr.js') as IpAddrModule;
  return loaded;
}

/** The text form (RFC 5952, as sockets report it) of a 16-byte IPv6 address. */
export function ipv6FromBytes(bytes: Uint8Array): string {
  const address = ipaddrModule().fromByteArray([...bytes]) as IpAddr.IPv6;
  return address.isIPv4MappedAddress() ? `::ffff:${address.toIPv4Address().toString()}` : address.toString();
}

/** Whether a list item is `*`, an IP address or a CIDR range: checked with the settings (config/). */
export { isAddressPattern } from '../config/address-pattern.js';

function normalize(address: string): IpAddr.IPv4 | IpAddr.IPv6 | undefined {
  const ipaddr = ipaddrModule();
  if (!ipaddr.isValid(address)) return undefined;
  const parsed = ipaddr.parse(address);
  return parsed.kind() === 'ipv6' && (parsed as IpAddr.IPv6).isIPv4MappedAddress()
    ? (parsed as IpAddr.IPv6).toIPv4Address()
    : parsed;
}

/** A predicate for peer addresses from the `--forwarded-allow-ips` list. */
export function trustFunction(patterns: readonly string[]): (address: string | undefined) => boolean {
  if (patterns.includes('*')) return () => true;
  const ranges = patterns.map((pattern) => {
    const [text, bits] = pattern.includes('/') ? pattern.split('/') : [pattern, undefined];
    const address = normalize(text as string);
    if (address === undefined || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
      throw new TypeError(`Not an IP address or CIDR range: ${JSON.stringify(pattern)}`);
    }
    const prefix = bits === undefined ? (address.kind() === 'ipv4' ? 32 : 128) : Number(bits);
    return [address, prefix] as const;
  });
  // Peers repeat (keep-alive, a proxy in front): remember recent answers instead of parsing again.
  const recent = new Map<string, boolean>();
  return (peer) => {
    if (peer === undefined) return false;
    const known = recent.get(peer);
    if (known !== undefined) return known;
    const address = normalize(peer);
    const answer =
      address !== undefined &&
      ranges.some(([range, prefix]) => range.kind() === address.kind() && address.match(range, prefix));
    if (recent.size >= 1024) recent.clear();
    recent.set(peer, answer);
    return answer;
  };
}

const FORWARDED_HEADERS = ['forwarded', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port'];

/** Marks a connection that came in on a unix socket (set by core's HTTP layer). */
export const UNIX_PEER: unique symbol = Symbol.for('kelpie.unix-peer') as never;

/**
 * Whether forwarded headers of this connection are believed: its peer address is trusted, or it
 * came in on a unix socket, which only local processes (the proxy in front) can reach, as in
 * Gunicorn. A unix peer that sent a PROXY header is judged by the address in it.
 */
export function peerIsTrusted(
  socket: { remoteAddress?: string | undefined } | undefined | null,
  trusted: (address: string | undefined) => boolean,
): boolean {
  if (!socket) return false;
  return (socket as { [UNIX_PEER]?: boolean })[UNIX_PEER] === true || trusted(socket.remoteAddress);
}

/** Remove forwarded headers from a request whose peer is not trusted, so no framework reads them. */
export function dropUntrustedForwarding(req: IncomingMessage, trusted: (address: string | undefined) => boolean): void {
  if (peerIsTrusted(req.socket, trusted)) return;
  for (const name of FORWARDED_HEADERS) delete req.headers[name];
}

/**
 * For frameworks that trust a whole X-Forwarded-For chain once told to trust proxies (Koa,
 * Fastify with `trustProxy: true`): keep only what trusted proxies vouch for. Walking from the
 * socket's peer inwards, each address is believed while the hop that reported it is trusted, as
 * Express's `trust proxy` function does; the header is rewritten to the first address reported
 * by a trusted hop that is itself not trusted (or the innermost one), so "the client" is the same
 * whatever the framework reads.
 */
export function settleForwardedFor(req: IncomingMessage, trusted: (address: string | undefined) => boolean): void {
  const header = req.headers['x-forwarded-for'];
  if (header === undefined || !peerIsTrusted(req.socket, trusted)) return;
  const client = forwardedClientOf(header, trusted);
  if (client) req.headers['x-forwarded-for'] = client;
  else delete req.headers['x-forwarded-for'];
}

/**
 * The client an X-Forwarded-For chain names, walking in from the peer: each hop is believed while
 * the one that reported it is trusted. Undefined for an empty chain.
 */
export function forwardedClientOf(
  header: string | string[],
  trusted: (address: string | undefined) => boolean,
): string | undefined {
  const hops = (Array.isArray(header) ? header.join(',') : header)
    .split(',')
    .map((hop) => hop.trim())
    .filter(Boolean);
  let client: string | undefined;
  for (let i = hops.length - 1; i >= 0; i--) {
    client = hops[i];
    if (!trusted(client)) break;
  }
  return client;
}

const PLAIN_IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * Like trustFunction, without loading ipaddr.js when it is not needed: a list of plain IPv4
 * addresses, `::1` and `*` (the default `127.0.0.1,::1` among them) is matched as text, which
 * keeps the worker's memory down; CIDR ranges and other IPv6 forms go through trustFunction.
 */
export function peerTrust(patterns: readonly string[]): (address: string | undefined) => boolean {
  if (patterns.includes('*')) return () => true;
  if (!patterns.every((p) => p === '::1' || PLAIN_IPV4.test(p))) return trustFunction(patterns);
  const set = new Set(patterns);
  return (peer) => peer !== undefined && (set.has(peer) || (peer.startsWith('::ffff:') && set.has(peer.slice(7))));
}
