// The bench routes as a Koa 3 app. Koa has no router of its own; a Map keyed by method and path
// is the smallest one that does not favour Koa over the other sides.
import Koa from 'koa';
import { cpuDigest, DOCUMENT, HELLO, SLOW_MS, SLOW_TEXT, sleep } from './work.mjs';

function echo(ctx) {
  ctx.body = ctx.req;
  ctx.type = ctx.get('content-type') || 'application/octet-stream';
  // Koa drops Content-Length when the body is a stream; the request's length is still right.
  const length = ctx.get('content-length');
  if (length) ctx.length = Number(length);
}

const routes = new Map([
  [
    'GET /hello',
    (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = HELLO;
    },
  ],
  [
    'GET /json',
    (ctx) => {
      ctx.body = DOCUMENT;
    },
  ],
  ['POST /echo', echo],
  [
    'GET /slow',
    async (ctx) => {
      await sleep(SLOW_MS);
      ctx.type = 'text/plain';
      ctx.body = SLOW_TEXT;
    },
  ],
  [
    'GET /cpu',
    (ctx) => {
      ctx.type = 'text/plain';
      ctx.body = cpuDigest();
    },
  ],
]);

const app = new Koa();

// Unknown routes leave the body unset, which Koa answers with 404.
app.use(async (ctx) => {
  const route = routes.get(`${ctx.method} ${ctx.path}`);
  if (route) await route(ctx);
});

export default app;
