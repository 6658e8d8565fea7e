// A fetch-style app: an object with fetch(request) => Response, as Bun, Deno and
// Cloudflare Workers take it. Bodies stream both ways.
//   kelpie -w 2 fetch.js
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/') {
      return Response.json({ hello: 'world', pid: process.pid });
    }
    if (url.pathname === '/echo' && request.method === 'POST') {
      // Stream the upload straight back without holding it in memory.
      return new Response(request.body, {
        headers: { 'content-type': request.headers.get('content-type') ?? 'application/octet-stream' },
      });
    }
    if (url.pathname === '/count') {
      const upTo = Number(url.searchParams.get('to') ?? 5);
      let i = 0;
      const body = new ReadableStream({
        pull(controller) {
          if (i >= upTo) return controller.close();
          controller.enqueue(new TextEncoder().encode(`${++i}\n`));
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/plain' } });
    }
    return new Response('Not Found\n', { status: 404 });
  },
};
