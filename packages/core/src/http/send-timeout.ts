import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type Logger, LogThrottle } from '../observability/logger.js';

/**
 * --send-timeout, nginx's `send_timeout`: a connection with data waiting to be sent that makes no
 * write progress for that long is closed, so a client that never reads its response cannot hold a
 * connection slot for good. A client that reads, however slowly, is never cut.
 *
 * Nothing runs per write: one sweep a second looks at the open connections. A connection is
 * stalled while it has bytes queued and the kernel has taken none of them since the last look.
 * Progress is what libuv has handed to the kernel, read from the TCP handle (for TLS, the TCP
 * socket underneath, so HTTP/2 connections count as a whole). The kernel takes bytes as its send
 * buffer empties, in bursts of up to a third of it (which Linux grows to 4 MB): a client reading
 * slower than about a third of that per --send-timeout can be cut, as with nginx.
 */

/** libuv's counts on a TCP or pipe handle (Node's LibuvStreamWrap): both read live. */
interface StreamHandle {
  bytesWritten?: number;
  writeQueueSize?: number;
}

/** Node's own fields on server-side sockets. */
type ServerSocket = Socket & {
  _handle?: StreamHandle | null;
  /** A TLS socket's TCP socket. */
  _parent?: ServerSocket | null;
  _httpMessage?: ServerResponse | null;
};

/** Bytes the kernel has taken from a connection, and whether any are still waiting for it. */
interface Progress {
  sent: number;
  queued: boolean;
}

const SWEEP_MS = 1000;
/** Under attack, one line per worker (or thread) this often, with the count of the others. */
const LOG_EVERY_MS = 10_000;

/** The libuv handle that writes to the kernel: the socket's own, or for TLS the TCP socket's. */
function kernelHandle(socket: ServerSocket): StreamHandle | undefined {
  const handle = (socket._parent ?? socket)._handle;
  return handle && typeof handle.bytesWritten === 'number' && typeof handle.writeQueueSize === 'number'
    ? handle
    : undefined;
}

function progressOf(socket: ServerSocket, into: Progress): Progress {
  const handle = kernelHandle(socket);
  const pending = socket.writableLength;
  if (handle) {
    const waiting = handle.writeQueueSize as number;
    into.sent = (handle.bytesWritten as number) - waiting;
    into.queued = pending > 0 || waiting > 0;
  } else {
    // No libuv handle (a socket over another stream): progress as whole writes complete.
    into.sent = socket.bytesWritten - pending;
    into.queued = pending > 0;
  }
  return into;
}

/**
 * Bytes not yet taken by the kernel. Plain TCP: what was handed to the socket, less what reached
 * the kernel. TLS: the encrypted bytes waiting in libuv plus the clear text not yet encrypted.
 */
function unsentBytes(socket: ServerSocket): number {
  const handle = kernelHandle(socket);
  if (!handle) return socket.writableLength;
  const waiting = handle.writeQueueSize as number;
  if (socket._parent) return waiting + socket.writableLength;
  return socket.bytesWritten - ((handle.bytesWritten as number) - waiting);
}

/**
 * Close the connections in `sockets` that make no write progress for `timeoutSeconds`; 0 turns
 * it off. Returns a function that stops the sweeps.
 */
export function watchSendProgress(sockets: ReadonlySet<Socket>, timeoutSeconds: number, log: Logger): () => void {
  if (!(timeoutSeconds > 0)) return () => {};
  const timeoutMs = timeoutSeconds * 1000;
  /** Stalled connections: the progress last seen, and since when it has not moved. */
  const stalls = new WeakMap<Socket, { sent: number; since: number }>();
  const throttle = new LogThrottle(LOG_EVERY_MS);
  const progress: Progress = { sent: 0, queued: false };
  const sweep = () => {
    const now = Date.now();
    let dropped = 0;
    let first: string | undefined;
    for (const socket of sockets as ReadonlySet<ServerSocket>) {
      if (socket.destroyed) continue;
      const { sent, queued } = progressOf(socket, progress);
      if (!queued) {
        stalls.delete(socket);
        continue;
      }
      const stall = stalls.get(socket);
      if (!stall) {
        stalls.set(socket, { sent, since: now });
        continue;
      }
      if (stall.sent !== sent) {
        stall.sent = sent;
        stall.since = now;
        continue;
      }
      if (now - stall.since < timeoutMs) continue;
      stalls.delete(socket);
      dropped++;
      first ??= describe(socket);
      drop(socket);
    }
    if (dropped === 0) return;
    const skipped = throttle.take(dropped, now);
    if (skipped === undefined) return;
    const others = dropped - 1 + skipped;
    log.warning(
      `Send timeout: no write progress for ${timeoutSeconds}s (--send-timeout) to ${first}: connection closed` +
        (others > 0 ? `; ${others} more connection(s) closed the same way since the last report` : ''),
    );
  };
  const timer = setInterval(sweep, SWEEP_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Close with a reset where the socket is plain TCP (as `reset_timedout_connection` does in nginx):
 * the client learns at once, and the kernel frees the send buffer it would otherwise keep trying
 * to deliver to a peer that does not read. TLS and unix sockets are closed as usual.
 */
function drop(socket: ServerSocket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/** `ip=… (GET /path), N bytes unsent` for the log. */
function describe(socket: ServerSocket): string {
  const req = socket._httpMessage?.req;
  let what = req ? ` (${req.method} ${req.url})` : '';
  if ((socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2') what = ' (HTTP/2 connection)';
  return `ip=${socket.remoteAddress ?? '-'}${what}, ${unsentBytes(socket)} bytes unsent`;
}
