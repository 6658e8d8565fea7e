export { ACCEPTED_SHAPES, type App, type AppHooks, type AppKind, type AppOptions, type RequestListener, isAppShape, toApp } from './app.js';
export { type AppModuleSpec, loadApp, parseAppModule, resolveAppFile } from './app-loader.js';
export { Arbiter, type ArbiterOptions } from './arbiter.js';
export { type BindAddress, formatAddress, parseBind } from './bind.js';
export { type CommandLine, helpText, parseCommandLine, splitShellWords } from './command-line.js';
export { type ErrorCode, ErrorCodes, KelpieError, exitCodeOf, isKelpieError } from './errors.js';
export { ExitCode } from './exit-codes.js';
export { type FetchBridgeOptions, type FetchHandler, createFetchListener } from './fetch-bridge.js';
export { HttpServers, type HttpServersOptions, createConfiguredServer, guardListener } from './http-server.js';
export { type BindOptions, type Listener, bindListeners } from './listeners.js';
export { type LogSink, Logger, describeError, formatLogTime } from './logger.js';
export { type BootMessage, FIRST_LISTENER_FD, type InheritedListener, type WorkerMessage } from './messages.js';
export { type ResolvedWorker, WORKER_PREFIXES, resolveWorker, workerCandidates } from './resolve-worker.js';
export {
  type Env,
  LOG_LEVELS,
  type LogLevel,
  type SettingDef,
  type SettingName,
  type Settings,
  defaultSettings,
  flagOf,
  settings,
} from './settings.js';
export { VERSION } from './version.js';
export { WORKER_BRAND, Worker, type WorkerClass, type WorkerContext, type WorkerMeta, isWorkerClass } from './worker.js';
export { heartbeatInterval } from './worker-process.js';
