import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * What the HTTP layer reads and marks on a server-side connection: Node's own fields (also read
 * by graceful-shutdown libraries), kelpie's mark on a connection whose last answer is decided,
 * and which protocol a request came in on.
 */

/** Node's own fields on a server-side HTTP socket, also read by graceful-shutdown libraries. */
export type HttpSocket = Socket & {
  _httpMessage?: ServerResponse | null;
  parser?: unknown;
  alpnProtocol?: string | false;
};

/**
 * Set on an HTTP/1 connection whose last response is decided: a refusal, a parse error, or a
 * response without keep-alive. Requests the client pipelined behind it are parsed by Node all
 * the same, but none reaches the app (RFC 9112 9.6: no further request is processed), and no
 * second refusal is written.
 */
export const CLOSING = Symbol('kelpie.closing');
export type ClosingSocket = { [CLOSING]?: true };

/** An HTTP/2 request (Node's compatibility API) rather than an HTTP/1 one. */
export const isHttp2 = (req: IncomingMessage): boolean => 'stream' in req;

/**
 * A connection that came in on a unix socket, with no PROXY header applied (that would give it an
 * address): a local process, trusted for forwarded headers (forwarded.ts `peerIsTrusted`). Node's
 * handle class tells pipes from TCP; TLS sockets are looked at through the socket they wrap.
 */
export function isUnixPeer(socket: Socket): boolean {
  const raw = (socket as Socket & { _parent?: Socket | null })._parent ?? socket;
  if ((raw as Socket & { _handle?: object | null })._handle?.constructor?.name !== 'Pipe') return false;
  // Read only for a pipe: reading it caches the peer's address on the socket (an object and a
  // string on every TCP connection, which Node's own HTTP server never asks for).
  return socket.remoteAddress === undefined;
}
