import type { ProxyHeader } from '../http/proxy-protocol.js';
import type { ConnectionMessage } from './protocol.js';

/**
 * The worker's side of a `kelpie:connection` message's `read`: what the arbiter read of a
 * connection before it sent it (--sticky with --proxy-protocol: the PROXY header and the bytes
 * after it). The arbiter's side (the read itself) is arbiter/sticky.ts; the HTTP layer and the
 * worker runtime import only this.
 */

/** In a worker: what the arbiter read of a connection it sent, decoded. */
export interface ReadAhead {
  /** The PROXY header the connection started with, if any. */
  header?: ProxyHeader;
  /** Bytes to read before the socket's own. */
  rest: Buffer;
}

/** Decode a `kelpie:connection` message's `read` (the arbiter's, so trusted; still checked for shape). */
export function readAheadOf(read: ConnectionMessage['read']): ReadAhead | undefined {
  if (typeof read !== 'object' || read === null || typeof read.rest !== 'string') return undefined;
  const header = typeof read.header === 'object' && read.header !== null ? read.header : undefined;
  return { ...(header ? { header } : {}), rest: Buffer.from(read.rest, 'base64') };
}
