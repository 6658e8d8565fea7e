// Conformance app, object-with-fetch shape (Hono, `export default { fetch }`).
import { facts } from './common.mjs';

export { shutdown, startup } from './common.mjs';

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/echo') {
      const body = await request.text();
      return new Response(body, { headers: { 'content-type': 'text/plain', 'x-method': request.method } });
    }
    return new Response(facts('fetch-object'), { headers: { 'content-type': 'application/json' } });
  },
};
