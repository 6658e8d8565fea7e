import { DEFAULT_WORKER_CLASS } from './builtin-plugins.js';
import {
  integer,
  MAX_CONNECTIONS,
  MAX_REQUESTS,
  MAX_WORKER_MEMORY_MB,
  MAX_WORKERS,
  nonEmptyString,
  ranged,
  seconds,
  secondsPlusOne,
  workersValue,
} from './parsers.js';
import { define, restartOnly } from './setting-def.js';

/**
 * The worker processes: how many, of which class, their limits, timeouts and crash-loop backoff (section Worker Processes).
 * Entries of the settings table (settings.ts assembles them, in the order of --help and docs/settings.md).
 */

/** Worker Processes: the pool and its timeouts. */
export const workerSettings = {
  workers: define<number>({
    section: 'Worker Processes',
    flags: ['-w', '--workers'],
    meta: 'INT',
    default: (env) => (env.WEB_CONCURRENCY ? workersValue(env.WEB_CONCURRENCY, 'WEB_CONCURRENCY') : 1),
    defaultText: '$WEB_CONCURRENCY, else 1',
    parse: ranged(workersValue, { min: 1, max: MAX_WORKERS }),
    help: 'The number of worker processes; "auto" for one per available CPU.',
  }),
  workerClass: restartOnly(
    define<string>({
      section: 'Worker Processes',
      flags: ['-k', '--worker-class'],
      meta: 'NAME',
      default: () => DEFAULT_WORKER_CLASS,
      defaultText: DEFAULT_WORKER_CLASS,
      parse: nonEmptyString,
      help: `The worker class: a short name (${DEFAULT_WORKER_CLASS}), a package name or a path, with an optional #Export.`,
      doc: "A short NAME is looked up as @kelpie/worker-NAME, then kelpie-worker-NAME, from the current directory first and then from kelpie's own install.",
    }),
  ),
  workerConnections: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-connections'],
    meta: 'INT',
    default: () => 1000,
    defaultText: '1000',
    parse: integer(1, MAX_CONNECTIONS),
    help: 'The maximum number of simultaneous connections per worker (per thread under -k threads).',
    doc: 'A worker (a thread under -k threads) that reaches the limit stops accepting: it closes its own descriptor of the listening sockets, so new connections wait in the backlog or go to a worker with room instead of being accepted and reset, and it accepts again as soon as a connection closes (docs/worker-classes.md). It logs a warning at most once a second.',
  }),
  threads: define<number>({
    section: 'Worker Processes',
    flags: ['--threads'],
    meta: 'INT',
    default: () => 1,
    defaultText: '1',
    parse: integer(1, 1024),
    help: 'The number of worker threads per worker process (-k threads), each running its own copy of the app.',
    doc: 'As in Gunicorn, `-k sync` with `--threads` above 1 runs the threads worker class instead. Worker classes without threads ignore this setting and say so at startup.',
  }),
  maxRequests: define<number>({
    section: 'Worker Processes',
    flags: ['--max-requests'],
    meta: 'INT',
    default: () => 0,
    defaultText: '0',
    parse: integer(0, MAX_REQUESTS),
    help: 'A worker exits gracefully after this many requests and a new one takes its place; 0 disables.',
    doc: 'A simple guard against memory leaks. Counted per worker process, over all its threads.',
  }),
  maxRequestsJitter: define<number>({
    section: 'Worker Processes',
    flags: ['--max-requests-jitter'],
    meta: 'INT',
    default: () => 0,
    defaultText: '0',
    parse: integer(0, MAX_REQUESTS),
    help: "Add a random 0..INT to each worker's --max-requests, so workers do not all restart at once.",
  }),
  timeout: define<number>({
    section: 'Worker Processes',
    flags: ['-t', '--timeout'],
    meta: 'SECONDS',
    default: () => 30,
    defaultText: '30',
    parse: seconds,
    help: 'Workers silent for more than this many seconds are killed and restarted; 0 disables.',
    doc: 'Each worker reports a heartbeat from its event loop. A loop blocked past the timeout (a handler stuck in `while (true)`) stops the heartbeat, and the arbiter logs `WORKER TIMEOUT (pid:N)`, aborts the worker, kills it if it is still there a moment later, and starts a new one.',
  }),
  gracefulTimeout: define<number>({
    section: 'Worker Processes',
    flags: ['--graceful-timeout'],
    meta: 'SECONDS',
    default: () => 30,
    defaultText: '30',
    parse: secondsPlusOne,
    help: 'After a graceful stop (TERM) begins, workers still alive after this many seconds are killed.',
  }),
  keepAlive: define<number>({
    section: 'Worker Processes',
    flags: ['--keep-alive'],
    meta: 'SECONDS',
    default: () => 2,
    defaultText: '2',
    parse: secondsPlusOne,
    help: 'Seconds to wait for the next request on a keep-alive connection; 0 turns keep-alive off.',
  }),
} as const;

/** Worker Processes: recycling by memory and the crash-loop backoff (listed after Config File in --help and the docs). */
export const crashLoopSettings = {
  maxWorkerMemory: define<number>({
    section: 'Worker Processes',
    flags: ['--max-worker-memory'],
    meta: 'MB',
    default: () => 0,
    defaultText: '0 (off)',
    parse: integer(0, MAX_WORKER_MEMORY_MB),
    help: 'Recycle a worker gracefully when its resident memory stays above this many MB; 0 disables.',
    doc: 'Workers report their RSS with each heartbeat. A worker above the limit on two checks in a row, at least 5 seconds apart, logs a warning and is replaced the way --max-requests replaces one: a new worker starts, the old one finishes its requests and exits. PM2 (`max_memory_restart`) and Granian have the same guard; Gunicorn does not.',
  }),
  workerMinUptime: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-min-uptime'],
    meta: 'SECONDS',
    default: () => 10,
    defaultText: '10',
    parse: seconds,
    help: 'A worker that exits on its own sooner than this after it started died young: its restart is delayed.',
    doc: "Crash-loop backoff, with --worker-restart-delay and --worker-restart-delay-max. Counted per worker slot: a worker that crashes, is killed by a signal or a timeout, or exits without being asked to, within this many seconds of its spawn, is a quick exit, and its replacement waits. A worker that lived this long clears its slot's count. Workers the arbiter retires (HUP, TTOU, --max-worker-memory, `kelpie ctl worker kill`) and workers recycled by --max-requests never count. At most 2147483 (Node's longest timer). PM2's `min_uptime`; systemd's `StartLimitIntervalSec` defaults to the same 10 s.",
  }),
  workerRestartDelay: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-restart-delay'],
    meta: 'SECONDS',
    default: () => 0.1,
    defaultText: '0.1',
    parse: seconds,
    help: 'The delay before restarting a worker that died young; x1.5 for each further quick exit in a row. 0 disables.',
    doc: "The Nth quick exit in a row of a slot (see --worker-min-uptime) delays its restart by this times 1.5^(N-1), at most --worker-restart-delay-max: with the defaults 0.1 s, 0.15 s, 0.23 s, ... and 15 s from the 14th on, so a worker that cannot live costs one boot every 15 s instead of a busy core. Each delay is logged as a warning (`Worker (pid:N) exited 0.3 s after it started; its 5th quick exit in a row: restarting it in 0.5 s`) and counted in `kelpie_worker_restart_delays_total`. Signals are handled during a delay; a stop cancels the pending restart. 0 restarts at once, as before. A worker that cannot boot (exit 3 or 4) still stops the server instead. At most 2147483. PM2's `exp_backoff_restart_delay`.",
  }),
  workerRestartDelayMax: define<number>({
    section: 'Worker Processes',
    flags: ['--worker-restart-delay-max'],
    meta: 'SECONDS',
    default: () => 15,
    defaultText: '15',
    parse: seconds,
    help: 'The longest delay of the crash-loop backoff (--worker-restart-delay).',
    doc: "At most 2147483 (Node's longest timer). 15 s is PM2's cap.",
  }),
} as const;
