/**
 * Idle keep-alive connections, for the memory each one costs a server: `count` raw TCP sockets
 * to a loopback server, each sending one keep-alive GET and reading its whole answer, then left
 * open and silent. A bounded number connect at a time (no SYN storm past the backlog), and the
 * whole opening is bounded in time.
 */
import { connect, type Socket } from 'node:net';
import { assertLoopback } from './wrk.js';

export interface HeldConnections {
  /** Sockets still open now (the server may close idle ones after its keep-alive timeout). */
  open(): number;
  /** Close every socket; resolves once they are all closed. */
  close(): Promise<void>;
}

const HEADER_END = '\r\n\r\n';

/** True once `data` holds one whole response with a Content-Length body. */
export function responseComplete(data: string): boolean {
  const end = data.indexOf(HEADER_END);
  if (end === -1) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(data.slice(0, end))?.[1];
  return length !== undefined && Buffer.byteLength(data.slice(end + HEADER_END.length)) >= Number(length);
}

/** One socket that has had its one request answered, or an error. */
function openOne(host: string, port: number, path: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const fail = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`no whole answer within ${timeoutMs} ms`)));
    socket.once('error', fail);
    socket.once('close', () => fail(new Error('closed before its answer')));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      if (!responseComplete(data)) return;
      if (!data.startsWith('HTTP/1.1 200')) return fail(new Error(`answered ${data.split('\r\n')[0]}`));
      socket.removeAllListeners('data');
      socket.removeAllListeners('close');
      socket.removeListener('error', fail);
      socket.setTimeout(0);
      // Errors from here on (a reset at close) only end this idle socket.
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: keep-alive\r\n\r\n`);
  });
}

/**
 * Open `count` idle keep-alive connections to `url` (loopback only), `parallel` at a time,
 * within `timeoutMs` in all. Rejects (closing what it opened) if one fails or time runs out.
 */
export async function holdIdleConnections(
  url: string,
  count: number,
  { parallel = 200, timeoutMs = 60_000 }: { parallel?: number; timeoutMs?: number } = {},
): Promise<HeldConnections> {
  assertLoopback(url);
  const { hostname, port, pathname } = new URL(url);
  const sockets: Socket[] = [];
  let closed = 0;
  const deadline = Date.now() + timeoutMs;
  let next = 0;
  let failure: Error | undefined;
  const opener = async () => {
    while (next < count && failure === undefined) {
      next++;
      const left = deadline - Date.now();
      try {
        if (left <= 0) throw new Error(`opened ${sockets.length} of ${count} connections in ${timeoutMs / 1000} s`);
        const socket = await openOne(hostname, Number(port), pathname, left);
        socket.once('close', () => closed++);
        sockets.push(socket);
      } catch (error) {
        failure ??= error as Error;
      }
    }
  };
  const closeAll = () =>
    Promise.all(
      sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.destroyed) return resolve();
            socket.once('close', () => resolve());
            socket.destroy();
          }),
      ),
    ).then(() => {});
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, opener));
  if (failure) {
    await closeAll();
    throw new Error(`idle connections to ${url}: ${failure.message}`, { cause: failure });
  }
  return { open: () => sockets.length - closed, close: closeAll };
}
