// The bench routes as a Hono app: the fetch-style side. kelpie serves the instance through its
// fetch method; the reference serves it with @hono/node-server under node:cluster.
import { Hono } from 'hono';
import { cpuDigest, DOCUMENT, HELLO, SLOW_MS, SLOW_TEXT, sleep } from './work.mjs';

const app = new Hono();

app.get('/hello', (c) => c.text(HELLO));

app.get('/json', (c) => c.json(DOCUMENT));

// The request body stream goes straight into the response: no buffering on either server.
app.post(
  '/echo',
  (c) =>
    new Response(c.req.raw.body, {
      headers: { 'content-type': c.req.header('content-type') ?? 'application/octet-stream' },
    }),
);

app.get('/slow', async (c) => {
  await sleep(SLOW_MS);
  return c.text(SLOW_TEXT);
});

app.get('/cpu', (c) => c.text(cpuDigest()));

export default app;
