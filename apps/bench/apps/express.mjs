// The bench routes as an Express 5 app, using Express's own routing, body parsing and
// res.send/res.json, with its default settings (ETag, X-Powered-By): Express as people run it.
import express from 'express';
import { cpuDigest, DOCUMENT, HELLO, SLOW_MS, SLOW_TEXT } from './work.mjs';

const app = express();

app.get('/hello', (_req, res) => {
  res.type('text/plain').send(HELLO);
});

app.get('/json', (_req, res) => {
  res.json(DOCUMENT);
});

// express.raw buffers the body (any content type) so res.send can answer it with a length.
app.post('/echo', express.raw({ type: () => true, limit: '1mb' }), (req, res) => {
  res.type(req.get('content-type') ?? 'application/octet-stream').send(req.body ?? Buffer.alloc(0));
});

app.get('/slow', (_req, res) => {
  setTimeout(() => res.type('text/plain').send(SLOW_TEXT), SLOW_MS);
});

app.get('/cpu', (_req, res) => {
  res.type('text/plain').send(cpuDigest());
});

export default app;
