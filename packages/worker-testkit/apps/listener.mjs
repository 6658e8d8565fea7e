// Conformance app, Node request-listener shape, with every route the suite uses.
import { echo, facts } from './common.mjs';

export { shutdown, startup } from './common.mjs';

export default function app(req, res) {
  const url = new URL(req.url, 'http://localhost');
  switch (url.pathname) {
    case '/':
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(facts('listener'));
      return;
    case '/echo':
      echo(req, res);
      return;
    case '/sleep': {
      // Waits on a timer, never blocking the event loop; logs when it starts so the suite
      // knows the request is in a worker before it sends a signal.
      const ms = Number(url.searchParams.get('ms') ?? 1000);
      console.error(`conformance: sleeping ${url.searchParams.get('id') ?? ''} pid=${process.pid}`);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`slept ${ms}`);
      }, ms);
      return;
    }
    case '/block':
      console.error(`conformance: blocking pid=${process.pid}`);
      for (;;) {}
    case '/throw':
      throw new Error('conformance: the handler threw');
    case '/crash':
      setTimeout(() => {
        throw new Error('conformance: uncaught exception outside a request');
      }, 10);
      res.end('crashing');
      return;
    default:
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
  }
}

// WebSocket handlers (SPEC.md 1.7): classes with WebSocket support echo; others answer 426.
export const websocket = {
  message(ws, data, isBinary) {
    ws.send(data, { binary: isBinary });
  },
};
