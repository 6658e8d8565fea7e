import { request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';

/** A response read to its end. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface GetOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  /** Connect to this unix socket instead of the URL's host and port. */
  socketPath?: string;
}

/**
 * One request on a fresh connection (no pooling, `Connection: close`), so consecutive calls can
 * reach different workers and nothing stays open after the reply.
 */
export function get(url: string, options: GetOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        agent: false,
        method: options.method ?? 'GET',
        socketPath: options.socketPath,
        headers: { connection: 'close', ...options.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Send raw bytes over a new TCP connection and resolve with everything the server sent back before closing. */
export function rawExchange(url: string, bytes: string, timeoutMs = 10_000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname.replace(/^\[|\]$/g, ''), () => socket.write(bytes));
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`No end of reply within ${timeoutMs} ms; got so far: ${JSON.stringify(data)}`));
    }, timeoutMs);
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      data += chunk;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (data) resolve(data);
      else reject(error);
    });
  });
}

/**
 * A TCP port on 127.0.0.1 nobody listens on right now, for servers that cannot report the port 0
 * gave them (nginx, HAProxy, systemd-socket-activate). Another process may take it before the
 * caller binds it: use port 0 wherever the server can.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
