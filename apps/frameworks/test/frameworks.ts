import type { Reply } from '@kelpie/testkit';
import { expect } from 'vitest';

/**
 * The production entries under test, each exactly as its framework's docs say to run it, and
 * what that framework's own answers look like. Every fixture app has the same routes: `/` (text),
 * `/json`, `POST /echo`, `/error` (a route that throws), `/slow?ms=N`, `/pid`; `/missing` is not
 * a route. Static files and a server-rendered page where the framework has them.
 */
export interface Framework {
  label: string;
  fixture: string;
  entry: string;
  hello: string;
  /** The framework's own 404 for `/missing`. */
  notFound(reply: Reply): void;
  /** The framework's own 500 for a route that throws. */
  serverError(reply: Reply): void;
  /** Body of `/static.txt`, where the framework serves static files. */
  staticFile?: string;
  /** What `/ssr`, a page rendered on the server, holds. */
  page?: RegExp;
  /** The line the app's shutdown hook writes. */
  shutdown: string;
}

const nestNotFound = (reply: Reply) => {
  expect(reply.status).toBe(404);
  expect(JSON.parse(reply.body)).toEqual({ message: 'Cannot GET /missing', error: 'Not Found', statusCode: 404 });
};
const nestError = (reply: Reply) => {
  expect(reply.status).toBe(500);
  expect(JSON.parse(reply.body)).toEqual({ statusCode: 500, message: 'Internal server error' });
};

export const FRAMEWORKS: readonly Framework[] = [
  {
    label: 'NestJS 11, Express platform (dist/main.js)',
    fixture: 'nest',
    entry: 'dist/main.js',
    hello: 'Hello from Nest',
    notFound: nestNotFound,
    serverError: nestError,
    shutdown: 'shutdown SIGTERM',
  },
  {
    label: 'NestJS 11, Fastify platform (dist/main-fastify.js)',
    fixture: 'nest',
    entry: 'dist/main-fastify.js',
    hello: 'Hello from Nest',
    notFound: nestNotFound,
    serverError: nestError,
    shutdown: 'shutdown SIGTERM',
  },
  {
    label: 'Next.js standalone (.next/standalone/server.js)',
    fixture: 'next',
    entry: '.next/standalone/server.js',
    hello: 'Hello from Next',
    notFound: (reply) => {
      expect(reply.status).toBe(404);
      expect(reply.body).toMatch(/This page could not be found/);
    },
    serverError: (reply) => {
      expect(reply.status).toBe(500);
      expect(reply.body).toBe('');
    },
    staticFile: 'a static file from public/\n',
    page: /<h1>Rendered by Next on the server<\/h1>/,
    shutdown: 'shutdown SIGTERM',
  },
  {
    label: 'Nitro node-server (.output/server/index.mjs)',
    fixture: 'nitro',
    entry: '.output/server/index.mjs',
    hello: 'Hello from Nitro',
    notFound: (reply) => {
      expect(reply.status).toBe(404);
      expect(JSON.parse(reply.body)).toMatchObject({ error: true, statusCode: 404 });
    },
    serverError: (reply) => {
      expect(reply.status).toBe(500);
      expect(JSON.parse(reply.body)).toMatchObject({ error: true, statusCode: 500, message: 'Server Error' });
    },
    staticFile: 'a static file from public/\n',
    shutdown: 'shutdown close',
  },
  {
    label: 'SvelteKit adapter-node (build/index.js)',
    fixture: 'sveltekit',
    entry: 'build/index.js',
    hello: 'Hello from SvelteKit',
    notFound: (reply) => {
      expect(reply.status).toBe(404);
      expect(reply.body).toMatch(/<h1>404<\/h1>\s*<p>Not Found<\/p>/);
    },
    serverError: (reply) => {
      // Its error page: a client that sends no Accept header gets HTML, not JSON.
      expect(reply.status).toBe(500);
      expect(reply.body).toMatch(/Internal Error/);
    },
    staticFile: 'a static file from static/\n',
    page: /<h1>Rendered by SvelteKit on the server<\/h1>/,
    shutdown: 'shutdown SIGTERM',
  },
  {
    // React Router's build has no server of its own: server.mjs exports createRequestHandler(build),
    // a fetch handler declared (request, loadContext) (SPEC.md 1.5.1).
    label: 'React Router 7 (server.mjs: createRequestHandler(build) over build/server/index.js)',
    fixture: 'react-router',
    entry: 'server.mjs',
    hello: 'Hello from React Router',
    notFound: (reply) => {
      expect(reply.status).toBe(404);
      expect(reply.body).toMatch(/<h1>404<!-- --> <!-- -->Not Found<\/h1>/);
    },
    serverError: (reply) => {
      // A resource route's loader that throws: React Router hides the message in production.
      expect(reply.status).toBe(500);
      expect(reply.body).toBe('Unexpected Server Error');
    },
    page: /<h1>Rendered by React Router on the server<\/h1>/,
    shutdown: 'shutdown hook',
  },
];
