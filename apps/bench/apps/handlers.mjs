// The "plain" bench app: one node:http request listener, routed by method and path, with no
// framework in the way. kelpie serves it directly; node:cluster and PM2 serve it with node:http.
import { pipeline } from 'node:stream';
import { cpuDigest, DOCUMENT, HELLO, SLOW_MS, SLOW_TEXT } from './work.mjs';

const TEXT = 'text/plain; charset=utf-8';

function send(res, status, type, body) {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// Streams the body straight back. The request's length is reused so the answer is not chunked.
function echo(req, res) {
  const headers = { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' };
  if (req.headers['content-length'] !== undefined) headers['content-length'] = req.headers['content-length'];
  res.writeHead(200, headers);
  // pipeline (not pipe) so a client that goes away mid-body does not leave the response hanging.
  pipeline(req, res, () => {});
}

const routes = new Map([
  ['GET /hello', (_req, res) => send(res, 200, TEXT, HELLO)],
  ['GET /json', (_req, res) => send(res, 200, 'application/json', JSON.stringify(DOCUMENT))],
  ['POST /echo', echo],
  ['GET /slow', (_req, res) => setTimeout(() => send(res, 200, TEXT, SLOW_TEXT), SLOW_MS)],
  ['GET /cpu', (_req, res) => send(res, 200, TEXT, cpuDigest())],
  // Which process answered: the startup bench (src/startup.ts) waits until every worker has.
  ['GET /pid', (_req, res) => send(res, 200, TEXT, String(process.pid))],
]);

export default function handler(req, res) {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const route = routes.get(`${req.method} ${query === -1 ? url : url.slice(0, query)}`);
  if (route) route(req, res);
  else send(res, 404, TEXT, 'Not Found\n');
}
