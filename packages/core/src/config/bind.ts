import { isIP } from 'node:net';
import { KelpieError } from '../errors.js';

/**
 * Whether `text` is an IPv6 address. Only text with two colons or more can be one: the first
 * isIP() of an IPv4 `HOST:PORT` would build Node's IPv6 pattern, about 5 ms of the arbiter's
 * start, for nothing.
 */
const isIPv6 = (text: string): boolean => text.indexOf(':') !== text.lastIndexOf(':') && isIP(text) === 6;

/** A parsed `-b/--bind` value. */
export type BindAddress =
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string }
  | { kind: 'fd'; fd: number; text: string };

const DEFAULT_PORT = 8000;

function bad(text: string, why: string): KelpieError {
  return new KelpieError(
    'KELPIE_ERR_INVALID_SETTING',
    `Invalid value for --bind: ${JSON.stringify(text)} (${why}). Allowed: HOST, HOST:PORT, [IPV6]:PORT, unix:PATH, fd://FD.`,
  );
}

function parsePort(text: string, port: string): number {
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw bad(text, `port "${port}" is not 0-65535`);
  return Number(port);
}

/** Parse one bind address the way Gunicorn reads them. */
export function parseBind(text: string): BindAddress {
  const value = text.trim();
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw bad(text, 'the socket path is empty');
    return { kind: 'unix', path, text: value };
  }
  if (value.startsWith('fd://')) {
    const fd = value.slice('fd://'.length);
    if (!/^\d+$/.test(fd)) throw bad(text, `"${fd}" is not a file descriptor number`);
    return { kind: 'fd', fd: Number(fd), text: value };
  }
  if (value.startsWith('[')) {
    const match = /^\[([^\]]+)\](?::(\d*))?$/.exec(value);
    if (!match || !isIPv6(match[1] as string)) throw bad(text, 'expected [IPV6] or [IPV6]:PORT');
    const port = match[2] ? parsePort(text, match[2]) : DEFAULT_PORT;
    return { kind: 'tcp', host: match[1] as string, port, text: value };
  }
  if (isIPv6(value)) return { kind: 'tcp', host: value, port: DEFAULT_PORT, text: value };
  const colon = value.lastIndexOf(':');
  const host = colon === -1 ? value : value.slice(0, colon);
  const port = colon === -1 ? DEFAULT_PORT : parsePort(text, value.slice(colon + 1));
  if (host.includes(':') || /\s/.test(host)) throw bad(text, `"${host}" is not a host name or address`);
  return { kind: 'tcp', host: host || '0.0.0.0', port, text: value };
}

/** How a bound address reads in "Listening at" lines. */
export function formatAddress(address: BindAddress, port?: number): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  if (address.kind === 'fd') return address.text;
  const host = isIPv6(address.host) ? `[${address.host}]` : address.host;
  return `http://${host}:${port ?? address.port}`;
}
