import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ProxyHeader } from './proxy-protocol.js';

/**
 * The PROXY header a connection started with, kept on its socket: set where the header is read
 * (proxy-protocol.ts) or where the arbiter read it (--sticky), read back by request info and
 * users (`proxyHeaderOf`). Its own small file, so that a worker serving without
 * --proxy-protocol never loads the header parser.
 */

export const PROXY_HEADER = Symbol.for('kelpie.proxy-header');

type WithHeader = Socket & { [PROXY_HEADER]?: ProxyHeader };

/** The PROXY header a connection started with, if any (on the TCP socket or the TLS socket over it). */
export function proxyHeaderOf(socket: Socket | undefined): ProxyHeader | undefined {
  if (!socket) return undefined;
  return (
    (socket as WithHeader)[PROXY_HEADER] ?? (socket as TLSSocket & { _parent?: WithHeader })._parent?.[PROXY_HEADER]
  );
}

/** Make the header's client the socket's peer: the address and port every layer above reads. */
export function applyProxyHeader(socket: Socket, header: ProxyHeader): void {
  (socket as WithHeader)[PROXY_HEADER] = header;
  if (header.command !== 'PROXY' || header.sourceAddress === undefined) return;
  Object.defineProperties(socket, {
    remoteAddress: { value: header.sourceAddress, configurable: true },
    remotePort: { value: header.sourcePort, configurable: true },
    remoteFamily: { value: header.family === 'TCP6' ? 'IPv6' : 'IPv4', configurable: true },
  });
}

/** A TLS socket over a socket that had a PROXY header reports the same peer. */
export function inheritProxyHeader(tlsSocket: TLSSocket): void {
  const header = (tlsSocket as TLSSocket & { _parent?: WithHeader })._parent?.[PROXY_HEADER];
  if (header) applyProxyHeader(tlsSocket, header);
}
