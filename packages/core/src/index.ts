export { AcceptGate, type AcceptGateOptions, type DoorSource } from './accept-gate.js';
export {
  ACCESS_LOG_ATOMS,
  type AccessRecord,
  accessLogger,
  compileAccessLogFormat,
  DEFAULT_ACCESS_LOG_FORMAT,
  LogFileWriter,
} from './access-log.js';
export {
  type AdaptedApp,
  type Adapter,
  type AdapterContext,
  type AdapterMeta,
  applyAdapter,
  frameworkOf,
  loadAdapter,
} from './adapter.js';
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
} from './app.js';
export { type AppModuleSpec, type LoadAppOptions, loadApp, parseAppModule, resolveAppFile } from './app-loader.js';
export { type AppSignals, routeAppSignals } from './app-signals.js';
export { Arbiter, type ArbiterOptions, type Reconfiguration } from './arbiter.js';
export { type BindAddress, formatAddress, parseBind } from './bind.js';
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
} from './command-line.js';
export {
  CONFIG_FILE_NAMES,
  defineConfig,
  findConfigFile,
  type KelpieConfig,
  type LoadedConfig,
  loadConfigFile,
} from './config-file.js';
export {
  CONTROL_COMMANDS,
  ControlClient,
  ControlConnectError,
  type ControlRequest,
  type ControlResponse,
  type ServerStatus,
  type WorkerStatus,
} from './control.js';
export { type ErrorCode, ErrorCodes, exitCodeOf, isKelpieError, KelpieError } from './errors.js';
export { ExitCode } from './exit-codes.js';
export { createFetchListener, type FetchBridgeOptions, type FetchHandler } from './fetch-bridge.js';
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
} from './hooks.js';
export {
  createConfiguredServer,
  guardListener,
  HttpServers,
  type HttpServersOptions,
  refuseUpgrades,
  writeUpgradeRefusal,
} from './http-server.js';
export {
  type ExtraListenPolicy,
  type ListenCapture,
  type ListenCaptureOptions,
  type ListenMechanism,
  ownServer,
  startListenCapture,
} from './listen-capture.js';
export { type BindOptions, bindListeners, type Listener } from './listeners.js';
export {
  describeError,
  errorLogSink,
  formatLogTime,
  LogFile,
  Logger,
  type LogSink,
  onReopen,
  reopenLogFiles,
} from './logger.js';
export {
  type BootMessage,
  type ConnectionMessage,
  FIRST_LISTENER_FD,
  type InheritedListener,
  type ListenerMessage,
  type WorkerMessage,
} from './messages.js';
export { type MetricsSnapshot, renderMetrics } from './metrics.js';
export { findPlugin, isPluginPath, pluginCandidates } from './plugins.js';
export { dropUntrustedForwarding, isAddressPattern, settleForwardedFor, trustFunction } from './proxy.js';
export {
  type ProxyHeader,
  ProxyHeaderError,
  parseProxyHeader,
  proxyHeaderOf,
} from './proxy-protocol.js';
export { REQUEST_INFO, type RequestInfo, requestInfo } from './request-info.js';
export {
  type ResolvedWorker,
  resolveWorker,
  WORKER_PREFIXES,
  workerCandidates,
} from './resolve-worker.js';
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
} from './settings.js';
export { settingsMarkdown } from './settings-doc.js';
export {
  addStatuses,
  DURATION_BUCKETS,
  REQUEST_STATS_LENGTH,
  RequestStats,
  requestStats,
  type StatusStats,
  useRequestStatsBuffer,
  type WorkerStats,
} from './stats.js';
export { checkSticky, type ReadAhead } from './sticky.js';
export { loadTlsMaterial, type TlsMaterial, tlsServerOptions } from './tls.js';
export { VERSION } from './version.js';
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
} from './worker.js';
export { heartbeatInterval } from './worker-process.js';
