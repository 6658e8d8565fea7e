/**
 * `@kelpie/core/internal`: what kelpie's own packages use and nobody else should — the arbiter and
 * its control socket client, command-line and configuration parsing, worker and app resolution for
 * the `kelpie` command, the settings doc. No compatibility promise: any release may change or
 * remove these names. Worker classes and adapters import only the public entry (./index.ts); the
 * `kelpie` command, the worker testkit and the apps may import this one.
 */

export { type ListenCapture, type ListenCaptureOptions, startListenCapture } from './app/listen-capture.js';
export { type LoadAppOptions, loadApp } from './app/loader.js';
export { routeAppSignals } from './app/signals.js';
export { Arbiter, type ArbiterOptions, type Reconfiguration } from './arbiter/arbiter.js';
export {
  ControlClient,
  type ControlCommand,
  type ControlCommands,
  ControlConnectError,
  type ControlRequest,
  type ControlResponse,
  type ControlResult,
  type ServerStatus,
  type WorkerStatus,
} from './arbiter/control.js';
export { checkSticky } from './arbiter/sticky.js';
export { formatAddress, parseBind } from './config/bind.js';
export {
  type Configuration,
  helpText,
  printConfigText,
  resolveConfiguration,
  reusePortSupported,
} from './config/command-line.js';
export { defaultControlSocket, effectiveWorkerClass } from './config/settings.js';
export { settingsMarkdown } from './config/settings-doc.js';
export { exitCodeOf } from './errors.js';
export { loadTlsMaterial } from './http/tls.js';
export { type ResolvedWorker, resolveWorker } from './plugins/resolve-worker.js';
export { type Pid1Action, signalsFor } from './signals.js';
