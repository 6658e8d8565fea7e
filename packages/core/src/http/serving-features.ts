import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Settings } from '../config/settings.js';
import { type Logger, LogThrottle } from '../observability/logger.js';
import { requestCounter, requestStats } from '../observability/stats.js';

/**
 * The modules of the serving features a setting turns on, imported only then: the access log
 * (--access-logfile), StatsD (--statsd-host) and the PROXY protocol's header reader
 * (--proxy-protocol). A worker serving without them never loads or compiles their code. They are
 * loaded before any HttpServers is built, so it serves with them from its first connection: the
 * worker process loads what its settings need at boot (worker/runtime.ts, before its class is
 * constructed); a worker thread (-k threads), or a class building HttpServers anywhere else,
 * awaits loadServingFeatures() first (HttpServers refuses to be built without them). Once per
 * process or thread: the modules stay. Also what HttpServers makes of them: the per-request
 * observers, and the log of failed accepts.
 */

type AccessLog = typeof import('../observability/access-log.js');
type AccessLogWriter = typeof import('../observability/access-log-writer.js');
type Statsd = typeof import('../observability/statsd.js');
type ProxyProtocol = typeof import('./proxy-protocol.js');

export interface ServingFeatures {
  accessLog?: AccessLog;
  statsd?: Statsd;
  proxyProtocol?: ProxyProtocol;
}

export type ServingSettings = Pick<Settings, 'accessLogfile' | 'statsdHost' | 'proxyProtocol'>;

const loaded: ServingFeatures = {};
let writer: AccessLogWriter | undefined;

/** The loaded modules, if every one that `settings` turn on is loaded; undefined if not yet. */
export function servingFeatures(settings: ServingSettings): ServingFeatures | undefined {
  if (settings.accessLogfile && !loaded.accessLog) return undefined;
  if (settings.statsdHost && !loaded.statsd) return undefined;
  if (settings.proxyProtocol !== 'off' && !loaded.proxyProtocol) return undefined;
  return loaded;
}

/**
 * Import the modules that `settings` turn on (none when they turn on nothing), in each process or
 * thread that builds an HttpServers, before it does.
 */
export async function loadServingFeatures(settings: ServingSettings): Promise<void> {
  if (!settings.accessLogfile && !settings.statsdHost && settings.proxyProtocol === 'off') return;
  const modules = await import('../optional-modules.js');
  if (settings.accessLogfile) {
    loaded.accessLog = modules.accessLog;
    writer = modules.accessLogWriter;
  }
  if (settings.statsdHost) loaded.statsd = modules.statsd;
  if (settings.proxyProtocol !== 'off') loaded.proxyProtocol = modules.proxyProtocol;
}

/**
 * Resolves once every access log line written so far is on disk (access-log-writer.ts): at once
 * where no access log was loaded, as nothing was written.
 */
export function accessLogsWritten(): Promise<void> {
  return writer ? writer.accessLogsWritten() : Promise.resolve();
}

/** Write this process's or thread's access log lines now, synchronously: a worker thread's quick stop. */
export function flushAccessLogsSync(): void {
  writer?.flushAccessLogsSync();
}

/** A per-request observer (access log, request counter), when configured. */
type PerRequest = ((req: IncomingMessage, res: ServerResponse) => void) | undefined;

/**
 * The access log and the request counter (metrics, StatsD) the settings ask for, from the loaded
 * modules. Without a counter, the requests in flight (for `kelpie ctl`) are read as `inFlight()`
 * twice a second (heartbeats report at most once a second).
 */
export function requestObservers(
  settings: Settings,
  log: Logger,
  features: ServingFeatures,
  inFlight: () => number,
): { access: PerRequest; count: PerRequest } {
  const access = features.accessLog?.accessLogger(settings);
  const statsd = features.statsd?.statsdClient(settings, log);
  const count = requestCounter(settings.metricsBind !== null, statsd && features.statsd?.statsdObserver(statsd));
  if (!count) {
    const stats = requestStats();
    setInterval(() => stats.setInFlight(inFlight()), 500).unref();
  }
  return { access, count };
}

/**
 * A listening server's errors are failed accepts (out of descriptors, mostly, when libuv's spare
 * descriptor is gone too): the worker serves on, and logs them at most once every 10 s.
 */
export function acceptErrorLogger(log: Logger): (error: NodeJS.ErrnoException) => void {
  const throttle = new LogThrottle(10_000);
  return (error) => {
    const skipped = throttle.take();
    if (skipped === undefined) return;
    const more = skipped > 0 ? ` (${skipped} more since the last report)` : '';
    log.warning(`Could not accept a connection: ${error.code ?? error.message}${more}`);
  };
}
