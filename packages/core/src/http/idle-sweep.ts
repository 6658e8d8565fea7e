import type { Socket } from 'node:net';
import type { HttpSocket } from './http-socket.js';

/**
 * The drain's sweep of keep-alive connections: while a worker drains, an HTTP/1 connection that
 * stays idle for the whole grace is closed, as its keep-alive timeout would close it; one that
 * gets a request in the meantime is answered with `Connection: close` and left to close itself.
 */

/**
 * Start the sweep over `sockets` (HTTP/2 ones aside: their session closes them): an idle one is
 * idle from now, a busy one once its response is sent, and a response not started yet says
 * `Connection: close`. Every quarter grace, what has been idle for `grace` ms is closed;
 * connections that turned busy, closed or were upgraded leave `idleSince` (connection → idle
 * since, ms), where the caller adds connections handed in later. `stop` ends the sweep.
 */
export function sweepIdleConnections(
  sockets: Iterable<Socket>,
  grace: number,
): { idleSince: Map<Socket, number>; stop: () => void } {
  const idleSince = new Map<Socket, number>();
  const now = Date.now();
  for (const socket of sockets) {
    if ((socket as HttpSocket).alpnProtocol === 'h2') continue;
    // The response a connection is writing: Node's own field, also used by shutdown libraries.
    const res = (socket as HttpSocket)._httpMessage;
    if (!res) idleSince.set(socket, now);
    else if (!res.headersSent) res.shouldKeepAlive = false;
    else res.once('finish', () => idleSince.set(socket, Date.now()));
  }
  const sweep = setInterval(
    () => {
      const at = Date.now();
      for (const [socket, since] of idleSince) {
        // Busy again (it closes after this response, which says Connection: close), gone, or
        // upgraded (a WebSocket: no HTTP parser any more; the app closes it, or the graceful
        // timeout does).
        if (!isIdleHttp(socket)) idleSince.delete(socket);
        else if (at - since >= grace) {
          idleSince.delete(socket);
          closeIfStillIdle(socket, idleSince);
        }
      }
    },
    Math.max(10, grace / 4),
  );
  return { idleSince, stop: () => clearInterval(sweep) };
}

/** An open HTTP/1 connection with no response under way. */
function isIdleHttp(socket: Socket): boolean {
  const { _httpMessage, parser } = socket as HttpSocket;
  return !(_httpMessage || socket.destroyed || parser === null);
}

/**
 * Timers run before the poll phase: a request that arrived while this process was not scheduled
 * is still unread. Close only what is still idle once poll has read it; a connection that read
 * more is idle again from now.
 */
function closeIfStillIdle(socket: Socket, idleSince: Map<Socket, number>): void {
  const bytes = socket.bytesRead;
  setImmediate(() => {
    if (!isIdleHttp(socket)) return;
    if (socket.bytesRead !== bytes) idleSince.set(socket, Date.now());
    else socket.destroy();
  });
}
