// Conformance app, fetch-handler shape: a function of one Request, returning a Response.
import { facts } from './common.mjs';

export { shutdown, startup } from './common.mjs';

export default async function app(request) {
  const url = new URL(request.url);
  if (url.pathname === '/echo') {
    return new Response(await request.text(), {
      headers: { 'content-type': 'text/plain', 'x-method': request.method },
    });
  }
  return new Response(facts('fetch'), { headers: { 'content-type': 'application/json' } });
}
