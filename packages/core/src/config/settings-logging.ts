import { homedir } from 'node:os';
import { join } from 'node:path';
import { ACCESS_LOG_ATOMS, DEFAULT_ACCESS_LOG_FORMAT, parseAccessLogFormat } from './access-log-format.js';
import { LOG_LEVELS, type LogLevel } from './choices.js';
import { commaList, hostPort, invalid, nonEmptyString, oneOf, parseStatsdAddress } from './parsers.js';
import { define, type Env, restartOnly, switchSetting } from './setting-def.js';

/**
 * What kelpie reports and how it is controlled: the logs, StatsD, Prometheus metrics and the control socket (sections Logging, Metrics and Control).
 * Entries of the settings table (settings.ts assembles them, in the order of --help and docs/settings.md).
 */

/** The control socket's default path: $XDG_RUNTIME_DIR/kelpie.ctl, else ~/.kelpie/kelpie.ctl (Gunicorn's places). */
export function defaultControlSocket(env: Env): string {
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'kelpie.ctl');
  return join(env.HOME || homedir(), '.kelpie', 'kelpie.ctl');
}

/** Logging, Metrics and Control. */
export const loggingSettings = {
  captureOutput: switchSetting(
    'Logging',
    ['--capture-output'],
    "Send the workers' standard output to the error log (stderr) too.",
  ),
  logLevel: define<LogLevel>({
    section: 'Logging',
    flags: ['--log-level'],
    meta: 'LEVEL',
    default: () => 'info',
    defaultText: 'info',
    parse: oneOf(LOG_LEVELS),
    help: `The granularity of log output: ${LOG_LEVELS.join(', ')}.`,
  }),
  accessLogfile: define<string | null>({
    section: 'Logging',
    flags: ['--access-logfile'],
    meta: 'FILE',
    default: () => null,
    defaultText: 'none',
    parse: nonEmptyString,
    help: 'Write an access log line per request to FILE; - means standard output.',
    doc: 'Each worker appends to the file itself. Lines are written in batches (every 100 ms, or at 64 KiB) with one asynchronous write each, so no request waits on the disk and lines of different workers never mix. USR1 opens the file again (logrotate).',
  }),
  accessLogformat: define<string>({
    section: 'Logging',
    flags: ['--access-logformat'],
    meta: 'STRING',
    default: () => DEFAULT_ACCESS_LOG_FORMAT,
    defaultText: DEFAULT_ACCESS_LOG_FORMAT,
    parse: (raw, name) => {
      const text = nonEmptyString(raw, name);
      parseAccessLogFormat(text, name);
      return text;
    },
    help: "The access log line, with Gunicorn's atoms: %(h)s, %(r)s, %(s)s, %({header}i)s...",
    doc: `Atoms: ${Object.entries(ACCESS_LOG_ATOMS)
      .map(([atom, meaning]) => `\`%(${atom})s\` ${meaning}`)
      .join(
        ', ',
      )}. The default is Apache's combined format. Values are quoted safely: \`"\` becomes \`\\"\` and control characters \`\\xHH\`, so a request cannot forge a line.`,
  }),
  errorLogfile: restartOnly(
    define<string>({
      section: 'Logging',
      flags: ['--error-logfile', '--log-file'],
      meta: 'FILE',
      default: () => '-',
      defaultText: '- (standard error)',
      parse: nonEmptyString,
      help: 'Write the error log (what the arbiter and workers report) to FILE; - means standard error.',
      doc: 'The arbiter and every worker append to the file. USR1 opens it again (logrotate). With `-D`, this is how a daemon keeps its log.',
    }),
  ),
  logFormat: restartOnly(
    define<'text' | 'json'>({
      section: 'Logging',
      flags: ['--log-format'],
      meta: 'FORMAT',
      default: () => 'text',
      defaultText: 'text',
      parse: oneOf(['text', 'json'] as const),
      help: "The error log's format: text (Gunicorn's) or json (one object per line, with pino's field names).",
      doc: 'JSON lines carry `level` (pino numbers: 20 debug, 30 info, 40 warning, 50 error, 60 critical), `time` (milliseconds since the epoch), `pid`, `hostname` and `msg`, plus `err` (`type`, `message`, `stack`) for errors, so pino tooling (pino-pretty, transports) reads them.',
    }),
  ),
  statsdHost: restartOnly(
    define<string | null>({
      section: 'Logging',
      flags: ['--statsd-host'],
      meta: 'HOST:PORT',
      default: () => null,
      defaultText: 'none',
      parse: (raw, name) => {
        if (typeof raw === 'string' && parseStatsdAddress(raw)) return raw.trim();
        throw invalid(
          name,
          raw,
          'HOST:PORT of a StatsD server over UDP (the port defaults to 8125), such as localhost:8125 or [::1]:8125',
        );
      },
      help: "Send Gunicorn's StatsD metrics (as kelpie.*) to this UDP address.",
      doc: 'Workers send `kelpie.requests` (counter), `kelpie.request.duration` (timer, milliseconds) and `kelpie.request.status.<code>` (counter) for each response; the arbiter sends `kelpie.workers` (gauge) every second. Lines are packed into datagrams of at most 1432 bytes, sent when full, 100 ms after their first line and when the process exits; a StatsD server that is down costs nothing, a host that cannot be resolved one warning.',
    }),
  ),
  statsdPrefix: restartOnly(
    define<string>({
      section: 'Logging',
      flags: ['--statsd-prefix'],
      meta: 'STRING',
      default: () => '',
      defaultText: 'none',
      parse: (raw, name) => {
        if (typeof raw === 'string' && /^[\w.-]*$/.test(raw.trim())) return raw.trim();
        throw invalid(name, raw, 'letters, digits, _, - and . (such as myapp or myapp.web)');
      },
      help: 'Prefix of the StatsD metric names (a dot is added): myapp gives myapp.kelpie.requests.',
    }),
  ),
  dogstatsdTags: restartOnly(
    define<string[]>({
      section: 'Logging',
      flags: ['--dogstatsd-tags'],
      meta: 'LIST',
      default: () => [],
      defaultText: 'none',
      parse: (raw, name) => {
        const items = commaList(raw);
        for (const item of items) {
          if (typeof item !== 'string' || /[|#,\s]/.test(item))
            throw invalid(name, item, 'comma-separated tags such as env:prod,app:shop');
        }
        return items as string[];
      },
      help: 'Comma-separated DogStatsD tags added to every StatsD metric (env:prod,app:shop).',
    }),
  ),
  metricsBind: restartOnly(
    define<string | null>({
      section: 'Metrics',
      flags: ['--metrics-bind'],
      meta: 'HOST:PORT',
      default: () => null,
      defaultText: 'none',
      parse: hostPort,
      help: 'Serve Prometheus /metrics (summed over all workers) and /healthz on this address, apart from the app.',
      doc: "The arbiter serves it on a socket of its own, never on the app's. `/metrics`: requests and their durations by status, requests in flight, worker restarts by reason, workers, and each worker's memory and event-loop lag, in Prometheus' text format (prom-client). `/healthz`: 200 once every worker has booted, 503 before that and while shutting down (a readiness probe). Workers count responses only when this is set. See docs/observability.md.",
    }),
  ),
  controlSocket: restartOnly(
    define<string>({
      section: 'Control',
      flags: ['--control-socket'],
      meta: 'PATH',
      default: defaultControlSocket,
      defaultText: '$XDG_RUNTIME_DIR/kelpie.ctl, or ~/.kelpie/kelpie.ctl',
      parse: nonEmptyString,
      help: 'The unix socket `kelpie ctl` talks to (mode 0600).',
      doc: 'The arbiter listens on it for `kelpie ctl` (status, top, reload, workers add/remove, worker kill, reopen, shutdown). A socket another running kelpie answers on is left alone (this server then has none, with a warning); a stale one is replaced. Relative paths are relative to --chdir.',
    }),
  ),
  controlSocketDisable: restartOnly(
    switchSetting('Control', ['--no-control-socket'], 'Do not open the control socket.'),
  ),
} as const;
