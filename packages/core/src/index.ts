/**
 * The public entry of @kelpie/core: what worker classes (SPEC.md, section 2), framework adapters
 * (SPEC.md 1.7.1) and users (config files, hooks, request info, errors) need. Every name here is
 * public API, versioned by changesets and listed in api/core.api.md, which a test compares with
 * the built declarations. What only kelpie's own packages use is in ./internal.ts
 * (`@kelpie/core/internal`, no compatibility promise); anything else is not exported.
 */

export {
  type AdaptedApp,
  type Adapter,
  type AdapterContext,
  type AdapterMeta,
  frameworkOf,
} from './app/adapter.js';
export {
  type App,
  type AppHooks,
  type AppKind,
  type AppWebSocket,
  type AppWebSockets,
  type CrosswsOptions,
  type RequestListener,
  type UpgradeListener,
  type UpgradeRefusal,
  usesWebSockets,
  type WebSocketHandlers,
} from './app/app.js';
export { defineConfig, type KelpieConfig, type LoadedConfig, loadConfigFile } from './config/config-file.js';
export type {
  ExitedWorkerView,
  HookName,
  ServerHooks,
  ServerView,
  WorkerProcessView,
  WorkerView,
} from './config/hooks.js';
export type { LogLevel, Settings } from './config/settings.js';
export { type ErrorCode, ErrorCodes, isKelpieError, KelpieError } from './errors.js';
export { ExitCode } from './exit-codes.js';
export { AcceptGate, type AcceptGateOptions, type DoorSource } from './http/accept-gate.js';
export { createConfiguredServer } from './http/create-server.js';
export type { FetchHandler } from './http/fetch-bridge.js';
export { settleForwardedFor } from './http/forwarded.js';
export { guardListener } from './http/guard-listener.js';
export { HttpServers, type HttpServersOptions } from './http/http-server.js';
export { proxyHeaderOf } from './http/proxy-header.js';
export type { ProxyHeader } from './http/proxy-protocol.js';
export { rawResponse } from './http/raw-response.js';
export { REQUEST_INFO, type RequestInfo, requestInfo } from './http/request-info.js';
export { flushAccessLogsSync, loadServingFeatures } from './http/serving-features.js';
export type { TlsMaterial } from './http/tls.js';
export { refuseUpgrades, writeUpgradeRefusal } from './http/upgrade-refusal.js';
export { SHUTDOWN_CLOSE } from './http/websocket-shutdown.js';
export type { InheritedListener } from './ipc/protocol.js';
export type { ReadAhead } from './ipc/read-ahead.js';
export { errorLogSink, Logger, type LogSink, reopenLogFiles } from './observability/logger.js';
export {
  REQUEST_STATS_LENGTH,
  RequestStats,
  requestStats,
  type StatusStats,
  useRequestStatsBuffer,
  type WorkerStats,
} from './observability/stats.js';
export { VERSION } from './version.js';
export { drainThenShutdown } from './worker/graceful-stop.js';
export { heartbeatInterval, startHeartbeat } from './worker/heartbeat.js';
export { HeldConnection } from './worker/held-connection.js';
export { loadHooks } from './worker/load-hooks.js';
export { reopenLogs } from './worker/log-reopen.js';
export { RequestCount } from './worker/request-count.js';
export {
  type AcceptMode,
  type StartAppOptions,
  startApp,
  Worker,
  type WorkerChannel,
  type WorkerClass,
  type WorkerContext,
  type WorkerMeta,
} from './worker/worker.js';
