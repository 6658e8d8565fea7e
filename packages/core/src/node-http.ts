import { createRequire } from 'node:module';

/**
 * node:http, loaded with require. An ES module import of a builtin reads every one of its
 * exports, and in recent Node releases (26 among them) node:http's `WebSocket`, `CloseEvent`
 * and `MessageEvent` are getters that load Node's fetch classes (undici: about 25 ms and 10 MB
 * per process). Required,
 * node:http loads them only when those three are read, which core never does: the arbiter and
 * workers serving a Node listener never load undici (packages/kelpie/test/fetch-globals.test.ts).
 */
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export const { createServer, IncomingMessage, METHODS, Server, STATUS_CODES } = http;
