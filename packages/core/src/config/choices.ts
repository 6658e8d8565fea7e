/**
 * The closed sets of values some settings take, shared with the modules that act on them: the
 * log levels (observability/logger.ts) and the app interfaces (app/interface.ts). Kept here so
 * those modules depend on config, never the reverse.
 */

export const LOG_LEVELS = ['debug', 'info', 'warning', 'error', 'critical'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** `--interface`: how a bare function app is called (SPEC.md 1.5.1). */
export const APP_INTERFACES = ['auto', 'node', 'fetch'] as const;
export type AppInterface = (typeof APP_INTERFACES)[number];
