// The memory baseline: one bare node:http process serving the same handlers, no kelpie.
import { createServer } from 'node:http';
import handler from './handlers.mjs';

createServer(handler).listen(Number(process.env.PORT), '127.0.0.1');
