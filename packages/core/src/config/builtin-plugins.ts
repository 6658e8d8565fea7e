/**
 * The plugins kelpie ships, by kind: its worker classes (`-k NAME`, the package
 * `@kelpie/worker-NAME`) and its framework adapters (`--adapter NAME`, `@kelpie/adapter-NAME`).
 * The one list of their names: plugin lookup's install hints (plugins/find.ts), the settings'
 * defaults and help text, and the test that the packages and the docs name them all read it.
 */

/** The kinds of plugin kelpie looks up by name. */
export type PluginKind = 'worker' | 'adapter';

export const BUILTIN_PLUGINS = {
  worker: ['async', 'sync', 'threads', 'ws'],
  adapter: ['express', 'koa', 'fastify'],
} as const satisfies Record<PluginKind, readonly string[]>;

export type BuiltinWorkerClass = (typeof BUILTIN_PLUGINS.worker)[number];
export type BuiltinAdapter = (typeof BUILTIN_PLUGINS.adapter)[number];

/** `-k` when none is given: the event-loop worker class, the one the kelpie package installs. */
export const DEFAULT_WORKER_CLASS: BuiltinWorkerClass = 'async';

/** The frameworks of the built-in adapters, as their names are written in prose. */
export const ADAPTER_FRAMEWORKS = {
  express: 'Express',
  koa: 'Koa',
  fastify: 'Fastify',
} as const satisfies Record<BuiltinAdapter, string>;
