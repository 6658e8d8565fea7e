import type { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * How a graceful stop tells WebSocket libraries to close their connections: the close frame every
 * kelpie WebSocket gets (1001 `Server shutting down`), sent to a `ws` WebSocket found on an
 * upgraded socket, and `close` emitted on a server for libraries attached to it (engine.io).
 * Core needs no `ws`: sockets are read by shape.
 */

/** The close code and reason of every WebSocket kelpie closes on a graceful stop (1001: going away). */
export const SHUTDOWN_CLOSE = { code: 1001, reason: 'Server shutting down' } as const;

/** What a `ws` WebSocket (the `ws` package, any copy) offers once it has put itself on its socket. */
interface WsLike {
  readyState: number;
  close(code?: number, reason?: string): void;
}

/**
 * The `ws` WebSocket on an upgraded socket, if a `ws` server (the app's, a library's) took it:
 * `ws` sets itself on the socket under a symbol described 'websocket' (its lib/constants.js
 * kWebSocket, set in WebSocket#setSocket). Read by shape, so core needs no `ws`.
 */
function webSocketOn(socket: Duplex): WsLike | undefined {
  for (const key of Object.getOwnPropertySymbols(socket)) {
    if (key.description !== 'websocket') continue;
    const ws = (socket as unknown as Record<symbol, unknown>)[key] as Partial<WsLike> | null | undefined;
    if (ws && typeof ws.close === 'function' && typeof ws.readyState === 'number') return ws as WsLike;
  }
  return undefined;
}

/** `ws`'s WebSocket.OPEN. */
const WS_OPEN = 1;

/** Close 1001 on the socket's `ws` WebSocket if it is open; other sockets are left alone. */
export function closeWebSocket(socket: Duplex): void {
  const ws = webSocketOn(socket);
  if (ws?.readyState === WS_OPEN) ws.close(SHUTDOWN_CLOSE.code, SHUTDOWN_CLOSE.reason);
}

/**
 * Emit `close` on one of kelpie's servers now, for libraries attached to it (engine.io closes
 * its clients on it), and not a second time when Node would, once its last connection is gone.
 */
export function announceClose(server: NetServer): void {
  if (server.listenerCount('close') === 0) return;
  type Emit = (this: NetServer, event: string | symbol, ...args: unknown[]) => boolean;
  const target = server as unknown as { emit: Emit };
  const emit = target.emit;
  target.emit = function (event, ...args) {
    return event === 'close' ? false : emit.call(this, event, ...args);
  };
  emit.call(server, 'close');
}
