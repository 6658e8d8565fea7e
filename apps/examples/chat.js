// A chat room over WebSockets: the HTTP app serves chat.html, `websocket` handles /chat.
//   kelpie -k ws -w 1 chat.js
// Then open http://127.0.0.1:8000/ in two browser tabs.
//
// WebSocket messages stay within one worker process: `sockets` holds the sockets connected to
// this worker, so a message reaches the people on the same worker only. Run it with -w 1 (or
// relay messages between workers through something shared, such as Redis pub/sub).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

const page = readFileSync(new URL('./chat.html', import.meta.url));
const OPEN = 1; // WebSocket readyState
const MAX_LENGTH = 500;

export default function chat(req, res) {
  if (new URL(req.url, 'http://localhost').pathname !== '/') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    return res.end('Not Found\n');
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(req.method === 'HEAD' ? undefined : page);
}

const sockets = new Set();
const ids = new WeakMap();

function broadcast(message) {
  const data = JSON.stringify(message);
  for (const ws of sockets) if (ws.readyState === OPEN) ws.send(data);
}

export const websocket = {
  // Return nothing to accept the upgrade, an HTTP status to refuse it.
  upgrade(req) {
    if (new URL(req.url, 'http://localhost').pathname !== '/chat') return 404;
    // Browsers send any page's origin: refuse pages from other sites (behind a proxy that
    // rewrites Host, compare with the public host instead).
    const origin = req.headers.origin;
    if (origin && (!URL.canParse(origin) || new URL(origin).host !== req.headers.host)) return 403;
  },
  open(ws) {
    const id = randomBytes(3).toString('hex');
    sockets.add(ws);
    ids.set(ws, id);
    // Everyone gets it, the newcomer first of all: its first message tells it its own id.
    broadcast({ system: 'joined', id });
  },
  message(ws, data, isBinary) {
    if (isBinary) return;
    const text = String(data).trim().slice(0, MAX_LENGTH);
    if (text) broadcast({ from: ids.get(ws), text });
  },
  close(ws) {
    sockets.delete(ws);
    broadcast({ system: 'left', id: ids.get(ws) });
  },
  error(ws, error) {
    console.error(`chat: socket ${ids.get(ws)}: ${error.message}`);
  },
};
