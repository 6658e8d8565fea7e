import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from '../node-http.js';
import type { Logger } from '../observability/logger.js';
import { methodAt, unknownMethodStatus } from './fields.js';
import { CLOSING, type ClosingSocket, type HttpSocket } from './http-socket.js';
import { rawResponse } from './raw-response.js';

/**
 * Parser-error answers: what a server's `clientError` gets (a request Node's parser refused, a
 * failed TLS handshake, plain HTTP on the TLS port) is answered with the right 4xx or 501 after
 * the responses to the requests before it, logged, and the connection closed. The worker serves on.
 */

const CLIENT_ERROR_STATUS: Record<string, number> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/**
 * The status for a parser error: its code's, else 400; a transfer coding other than chunked is
 * 501, as in Gunicorn, and so is a well-formed method Node's parser does not know (RFC 9110 9.1).
 */
export function clientErrorStatus(error: NodeJS.ErrnoException & { bytesParsed?: number; rawPacket?: Buffer }): number {
  if (error.code === 'HPE_INVALID_TRANSFER_ENCODING' && /Request has invalid `Transfer-Encoding`/.test(error.message)) {
    return 501;
  }
  if (error.code === 'HPE_INVALID_METHOD' && error.rawPacket) {
    const method = methodAt(error.rawPacket, error.bytesParsed ?? 0);
    return method === undefined ? 400 : unknownMethodStatus(method);
  }
  return CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
}

/**
 * Run `then` once every response before the one to a request that failed to parse is sent
 * (RFC 9112 9.3.2: a pipelined request's error must not overtake the answers to those before
 * it). `failing` is the request whose body failed, if the error is in a body; its own response
 * gives way to the refusal if it has not started, and the connection is closed if it has.
 */
function afterEarlierResponses(socket: HttpSocket, failing: IncomingMessage | undefined, then: () => void): void {
  if (socket.destroyed || !socket.writable) return;
  const res = socket._httpMessage;
  if (!res) {
    then();
    return;
  }
  if (failing !== undefined && res.req === failing) {
    if (res.headersSent) socket.destroy();
    else then();
    return;
  }
  // Node's own 'finish' listener, added first, has handed the socket to the next response by now.
  res.once('finish', () => afterEarlierResponses(socket, failing, then));
}

/**
 * A request the parser refused: answer 4xx with the reason (after the answers to the requests
 * before it), log a warning, close. The worker serves on.
 */
export function rejectRequest(error: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  // Plain HTTP sent to the TLS port: answered in plain HTTP on the TCP socket underneath, as
  // nginx does, so a misconfigured client or proxy sees why instead of a reset.
  const raw = (socket as Socket & { _parent?: Socket | null })._parent;
  if (error.code === 'ERR_SSL_HTTP_REQUEST' && raw?.writable) {
    log.warning(`Plain HTTP request sent to the TLS port from ip=${socket.remoteAddress ?? '-'}`);
    raw.end(rawResponse(400, 'Bad Request: this port speaks HTTPS; the request came in plain HTTP.\n'));
    return;
  }
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  // A TLS handshake that failed or timed out: no HTTP can be written on that socket.
  if (/^ERR_(TLS|SSL)_/.test(error.code ?? '') || (error as { library?: string }).library === 'SSL routines') {
    log.warning(`TLS handshake failed from ip=${socket.remoteAddress ?? '-'}: ${error.message}`);
    socket.destroy();
    return;
  }
  const conn = socket as HttpSocket & ClosingSocket;
  // The connection's last answer is already decided (a refusal, or a response that closes it):
  // Node's parser goes on reading what the client pipelined, which gets no answer of its own.
  if (conn[CLOSING]) return;
  conn[CLOSING] = true;
  // Bytes after a request that asked to close the connection (Connection: close, HTTP/1.0): not
  // an error to answer, the connection closes after that request's response.
  if (error.code === 'HPE_CLOSED_CONNECTION') return;
  const status = clientErrorStatus(error);
  const reason = `${STATUS_CODES[status]}: ${error.message}\n`;
  log.warning(`Invalid request from ip=${socket.remoteAddress ?? '-'}: ${error.message}`);
  // The request whose body broke, if the error is in a body (the app has that request already).
  const open = (conn.parser as { incoming?: IncomingMessage | null } | null | undefined)?.incoming;
  const failing = open && !open.complete ? open : undefined;
  afterEarlierResponses(conn, failing, () => socket.end(rawResponse(status, reason)));
}
