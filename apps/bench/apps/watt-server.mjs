// The file Platformatic Watt's `@platformatic/node` capability runs for the plain and Express apps
// (`node.main` in its config): it serves BENCH_APP with node:http and calls listen() itself, as an
// app Watt runs as a black box does (see serve-app.mjs); Watt rewrites that listen to the host
// and port of its own config, in each of its worker threads. The same handlers and Express app
// as every other side, so only the server around them differs.
import { appFromEnv, serveApp } from './serve-app.mjs';

const { kind, port } = appFromEnv();
await serveApp(kind, port);
