import WebSocket from 'ws';

/**
 * The WebSocket client side of kelpie's tests (`ws` package): open, read, close, refused upgrades.
 * One copy for every test of the repo that speaks WebSocket to a kelpie process.
 */

/** The ws:// URL of a path on a kelpie process's http:// URL. */
export const wsUrl = (httpUrl: string, path = '/'): string => `${httpUrl.replace(/^http/, 'ws')}${path}`;

/**
 * Open a WebSocket and collect its text messages from the start, before `open` is even seen: a
 * server that speaks first may have its message in the same packet as the handshake's answer.
 */
export function openReading(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ws: WebSocket; next: () => Promise<string> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    const queue: string[] = [];
    const waiting: ((text: string) => void)[] = [];
    ws.on('message', (data: Buffer) => {
      const take = waiting.shift();
      if (take) take(data.toString());
      else queue.push(data.toString());
    });
    const next = () => {
      const queued = queue.shift();
      return queued !== undefined ? Promise.resolve(queued) : new Promise<string>((done) => waiting.push(done));
    };
    ws.once('open', () => resolve({ ws, next }));
    ws.once('error', reject);
  });
}

/** Open a WebSocket: resolves once the handshake is done, rejects on an error before it. */
export function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** The next message, with whether it was binary. */
export function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: Buffer, isBinary) => resolve({ data, isBinary })));
}

/** An echo round trip, so the socket is known to reach the app. */
export async function echoes(ws: WebSocket, text: string): Promise<string> {
  const reply = nextMessage(ws);
  ws.send(text);
  return (await reply).data.toString();
}

/** The close code and reason the socket gets. */
export function wsClosed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/** The answer to an upgrade the server refuses (rejects if the upgrade is accepted). */
export function refusal(url: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => {});
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
  });
}
