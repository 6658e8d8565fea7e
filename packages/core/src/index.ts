export {
  type AdaptedApp,
  type Adapter,
  type AdapterContext,
  type AdapterMeta,
  applyAdapter,
  frameworkOf,
  loadAdapter,
} from './app/adapter.js';
export {
  ACCEPTED_SHAPES,
  type App,
  type AppHooks,
  type AppKind,
  type AppOptions,
  type AppWebSocket,
  type AppWebSockets,
  type CrosswsOptions,
  isAppShape,
  type RequestListener,
  serverApp,
  toApp,
  type UpgradeListener,
  type UpgradeRefusal,
  usesWebSockets,
  WEBSOCKET_HANDLER_NAMES,
  type WebSocketHandlers,
  websocketOf,
} from './app/app.js';
export {
  type ExtraListenPolicy,
  type ListenCapture,
  type ListenCaptureOptions,
  type ListenMechanism,
  ownServer,
  startListenCapture,
} from './app/listen-capture.js';
export { type AppModuleSpec, type LoadAppOptions, loadApp, parseAppModule, resolveAppFile } from './app/loader.js';
export { type AppSignals, routeAppSignals } from './app/signals.js';
export { Arbiter, type ArbiterOptions, type Reconfiguration } from './arbiter/arbiter.js';
export {
  CONTROL_COMMANDS,
  ControlClient,
  ControlConnectError,
  type ControlRequest,
  type ControlResponse,
  type ServerStatus,
  type WorkerStatus,
} from './arbiter/control.js';
export { type BindOptions, bindListeners, type Listener } from './arbiter/listeners.js';
export { checkSticky, type ReadAhead } from './arbiter/sticky.js';
export { type BindAddress, formatAddress, parseBind } from './config/bind.js';
export {
  type CommandLine,
  type Configuration,
  helpText,
  parseCommandLine,
  printConfigText,
  resolveConfiguration,
  reusePortSupported,
  type SettingSource,
  splitShellWords,
} from './config/command-line.js';
export {
  CONFIG_FILE_NAMES,
  defineConfig,
  findConfigFile,
  type KelpieConfig,
  type LoadedConfig,
  loadConfigFile,
} from './config/config-file.js';
export {
  type ExitedWorkerView,
  HOOK_NAMES,
  type HookName,
  hasWorkerHooks,
  runHook,
  runHookNow,
  type ServerHooks,
  type ServerView,
  WORKER_HOOKS,
  type WorkerProcessView,
  type WorkerView,
} from './config/hooks.js';
export {
  defaultControlSocket,
  defaultSettings,
  type Env,
  effectiveWorkerClass,
  LOG_LEVELS,
  type LogLevel,
  type SettingDef,
  type SettingName,
  type Settings,
  settings,
} from './config/settings.js';
export { settingsMarkdown } from './config/settings-doc.js';
export { type ErrorCode, ErrorCodes, exitCodeOf, isKelpieError, KelpieError } from './errors.js';
export { ExitCode } from './exit-codes.js';
export { createFetchListener, type FetchBridgeOptions, type FetchHandler } from './http/fetch-bridge.js';
export { dropUntrustedForwarding, isAddressPattern, settleForwardedFor, trustFunction } from './http/forwarded.js';
export {
  createConfiguredServer,
  guardListener,
  HttpServers,
  type HttpServersOptions,
  refuseUpgrades,
  writeUpgradeRefusal,
} from './http/http-server.js';
export {
  type ProxyHeader,
  ProxyHeaderError,
  parseProxyHeader,
  proxyHeaderOf,
} from './http/proxy-protocol.js';
export { REQUEST_INFO, type RequestInfo, requestInfo } from './http/request-info.js';
export { loadTlsMaterial, type TlsMaterial, tlsServerOptions } from './http/tls.js';
export {
  type BootMessage,
  type ConnectionMessage,
  FIRST_LISTENER_FD,
  type InheritedListener,
  type ListenerMessage,
  type WorkerMessage,
} from './ipc/protocol.js';
export {
  ACCESS_LOG_ATOMS,
  type AccessRecord,
  accessLogger,
  compileAccessLogFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  LogFileWriter,
} from './observability/access-log.js';
export {
  describeError,
  errorLogSink,
  formatLogTime,
  LogFile,
  Logger,
  type LogSink,
  onReopen,
  reopenLogFiles,
} from './observability/logger.js';
export { type MetricsSnapshot, renderMetrics } from './observability/metrics.js';
export {
  addStatuses,
  DURATION_BUCKETS,
  REQUEST_STATS_LENGTH,
  RequestStats,
  requestStats,
  type StatusStats,
  useRequestStatsBuffer,
  type WorkerStats,
} from './observability/stats.js';
export { findPlugin, isPluginPath, pluginCandidates } from './plugins/find.js';
export {
  type ResolvedWorker,
  resolveWorker,
  WORKER_PREFIXES,
  workerCandidates,
} from './plugins/resolve-worker.js';
export { VERSION } from './version.js';
export { AcceptGate, type AcceptGateOptions, type DoorSource } from './worker/accept-gate.js';
export { drainThenShutdown } from './worker/graceful-stop.js';
export { heartbeatInterval, startHeartbeat } from './worker/heartbeat.js';
export { loadHooks } from './worker/load-hooks.js';
export { reopenLogs } from './worker/log-reopen.js';
export { RequestCount } from './worker/request-count.js';
export {
  type AcceptMode,
  isWorkerClass,
  type StartAppOptions,
  startApp,
  WORKER_BRAND,
  Worker,
  type WorkerChannel,
  type WorkerClass,
  type WorkerContext,
  type WorkerMeta,
} from './worker/worker.js';
