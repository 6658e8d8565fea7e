/**
 * The modules a process loads only when a setting asks for them, as one lazily imported entry:
 * the settings table (a worker loading a config file itself: config/config-file.ts), the access
 * log (--access-logfile), StatsD (--statsd-host) and the PROXY protocol's header reader
 * (--proxy-protocol) (http/serving-features.ts). A worker serving without them never loads or
 * compiles their code.
 *
 * One entry rather than one each, and reaching core's index, for the bundle's sake: esbuild makes
 * one chunk of the modules reached from the same set of entries, dynamic imports included. The
 * arbiter imports all of these statically; each lazy entry of its own would split them out of the
 * arbiter's chunk into a small file each, and one that reached only a few of core's shared modules
 * (errors, the logger) would split those too: each file one more for every process to load (on
 * Node 20, about as much as compiling 20-25 KB more). A process that loads this file has loaded
 * the index already (its worker class imports it).
 */

export * as settingsTable from './config/settings.js';
export * as proxyProtocol from './http/proxy-protocol.js';
export { VERSION as LOADED_WITH_CORE } from './index.js';
export * as accessLog from './observability/access-log.js';
export * as accessLogWriter from './observability/access-log-writer.js';
export * as statsd from './observability/statsd.js';
