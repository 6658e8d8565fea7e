// The bench's JSON route as a Fastify 5 app: kelpie serves it through @kelpie/adapter-fastify,
// node:cluster workers with fastify.listen().
import Fastify from 'fastify';
import { DOCUMENT } from './work.mjs';

const app = Fastify({ trustProxy: true });
app.get('/json', async () => DOCUMENT);

export default app;
