// Shared by the conformance apps: the per-worker hooks, what each app reports about itself, and
// the Node-listener routes. Every line written here starts with "conformance:" so the suite can
// wait for it in the log.
import { threadId } from 'node:worker_threads';

let started = false;

export async function startup() {
  started = true;
  console.error(`conformance: startup pid=${process.pid} thread=${threadId}`);
}

export async function shutdown() {
  console.error(`conformance: shutdown pid=${process.pid} thread=${threadId}`);
}

/** The JSON body of `GET /`: which app shape answered, from which process and thread. */
export function facts(shape) {
  return JSON.stringify({ shape, pid: process.pid, thread: threadId, startup: started });
}

/** `POST /echo`: the request body back, and the method in `x-method`. */
export function echo(req, res) {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-method': req.method });
    res.end(Buffer.concat(chunks));
  });
}

/** A Node request listener for `/echo` and `GET /`, reporting `shape`. */
export function listenerFor(shape) {
  return (req, res) => {
    if (req.url === '/echo') return echo(req, res);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(facts(shape));
  };
}
