"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.FRAMEWORKS = void 0;
var vitest_1 = require("vitest");
var nestNotFound = function (reply) {
    (0, vitest_1.expect)(reply.status).toBe(404);
    (0, vitest_1.expect)(JSON.parse(reply.body)).toEqual({ message: 'Cannot GET /missing', error: 'Not Found', statusCode: 404 });
};
var nestError = function (reply) {
    (0, vitest_1.expect)(reply.status).toBe(500);
    (0, vitest_1.expect)(JSON.parse(reply.body)).toEqual({ statusCode: 500, message: 'Internal server error' });
};
exports.FRAMEWORKS = [
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
        notFound: function (reply) {
            (0, vitest_1.expect)(reply.status).toBe(404);
            (0, vitest_1.expect)(reply.body).toMatch(/This page could not be found/);
        },
        serverError: function (reply) {
            (0, vitest_1.expect)(reply.status).toBe(500);
            (0, vitest_1.expect)(reply.body).toBe('');
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
        notFound: function (reply) {
            (0, vitest_1.expect)(reply.status).toBe(404);
            (0, vitest_1.expect)(JSON.parse(reply.body)).toMatchObject({ error: true, statusCode: 404 });
        },
        serverError: function (reply) {
            (0, vitest_1.expect)(reply.status).toBe(500);
            (0, vitest_1.expect)(JSON.parse(reply.body)).toMatchObject({ error: true, statusCode: 500, message: 'Server Error' });
        },
        staticFile: 'a static file from public/\n',
        shutdown: 'shutdown close',
    },
    {
        label: 'SvelteKit adapter-node (build/index.js)',
        fixture: 'sveltekit',
        entry: 'build/index.js',
        hello: 'Hello from SvelteKit',
        notFound: function (reply) {
            (0, vitest_1.expect)(reply.status).toBe(404);
            (0, vitest_1.expect)(reply.body).toMatch(/<h1>404<\/h1>\s*<p>Not Found<\/p>/);
        },
        serverError: function (reply) {
            // Its error page: a client that sends no Accept header gets HTML, not JSON.
            (0, vitest_1.expect)(reply.status).toBe(500);
            (0, vitest_1.expect)(reply.body).toMatch(/Internal Error/);
        },
        staticFile: 'a static file from static/\n',
        page: /<h1>Rendered by SvelteKit on the server<\/h1>/,
        shutdown: 'shutdown SIGTERM',
    },
];
