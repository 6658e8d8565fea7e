import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ControlClient,
  type ControlCommand,
  type ControlRequest,
  type ControlResponse,
  type ControlResult,
  defaultControlSocket,
  ExitCode,
  type ServerStatus,
  type WorkerStatus,
} from '@kelpie/core';

/**
 * `kelpie ctl`: the client of the control socket (packages/core/src/arbiter/control.ts). One connection
 * per run; `top` keeps it open and asks for the status once a second. Exit status: 0 done,
 * 1 the server refused or cannot be reached, 2 a usage error. docs/control.md describes it all.
 */

/** What `kelpie ctl` writes to and reads from; the process's own streams by default. */
export interface CtlIO {
  env?: NodeJS.ProcessEnv;
  stdout?: { write(text: string): unknown; isTTY?: boolean; columns?: number; rows?: number };
  stderr?: { write(text: string): unknown };
}

type Out = NonNullable<CtlIO['stdout']>;
type Err = NonNullable<CtlIO['stderr']>;

const USAGE = 'usage: kelpie ctl [--control-socket PATH] [--json] COMMAND [ARGS]';

/**
 * The commands of `kelpie ctl`, in the order --help and docs/control.md list them: what to type,
 * and what it does (continuation lines indented under it). Keyed by the protocol command each
 * sends, plus `top` and `help`: a control command without a line here fails typecheck.
 */
const CLI_COMMANDS = {
  status: ['status', 'the server and one row per worker (--json: the raw status, for scripts)'],
  top: ['top', 'a live view refreshed every second; q or Ctrl-C quits (--once: one frame)'],
  reload: ['reload', 'start new workers with fresh app code, retire the old ones (as HUP)'],
  reopen: ['reopen', 'reopen the log files, after logrotate (as USR1)'],
  shutdown: [
    'shutdown [--quick]',
    'stop gracefully, letting in-flight requests finish (as TERM);',
    '--quick drops them (as INT)',
  ],
  'workers.add': ['workers add N', 'N more workers (as TTIN, N times)'],
  'workers.remove': ['workers remove N', 'N workers fewer; at least 1 stays (as TTOU, N times)'],
  'worker.kill': ['worker kill PID', 'stop that worker gracefully; a new one replaces it'],
  help: ['help', 'this text'],
} satisfies Record<ControlCommand | 'top' | 'help', readonly [string, string, ...string[]]>;

/** The command list of --help: usage in a column, what it does beside it. */
function commandLines(): string {
  return Object.values(CLI_COMMANDS)
    .map(([usage, ...what]) => what.map((line, i) => `  ${(i === 0 ? usage : '').padEnd(21)}${line}`).join('\n'))
    .join('\n');
}

function helpText(env: NodeJS.ProcessEnv): string {
  return `${USAGE}

Talk to a running kelpie through its control socket (see docs/control.md).

Commands:
${commandLines()}

Options:
  --control-socket PATH  the server's control socket, as given to the server (default:
                         $XDG_RUNTIME_DIR/kelpie.ctl, else ~/.kelpie/kelpie.ctl; here
                         ${defaultControlSocket(env)})
  --json                 print the server's answer as JSON
  --timeout SECONDS      give up when the server has not answered in this long (default 10)
  -h, --help             this text

Exit status: 0 done; 1 the server answered with an error or cannot be reached; 2 usage error.
`;
}

class UsageError extends Error {}

/** A whole number of 1 or more from the command line, else a UsageError naming the command. */
function positive(raw: string | undefined, command: string, name: string, what: string): number {
  if (raw === undefined) throw new UsageError(`${command}: missing ${name}, ${what} (a whole number of 1 or more)`);
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || !Number.isSafeInteger(value)) {
    throw new UsageError(`${command}: ${name} must be a whole number of 1 or more, not ${JSON.stringify(raw)}`);
  }
  return value;
}

/** What the command line asks for: a request to send, `top`, or help. */
type Plan =
  | { kind: 'help' }
  | { kind: 'top'; once: boolean }
  | { kind: 'request'; name: string; request: ControlRequest };

const COMMANDS = Object.values(CLI_COMMANDS)
  .map(([usage]) => usage)
  .join(', ');

function plan(positionals: string[], values: { quick?: boolean; once?: boolean; json?: boolean }): Plan {
  const [command, sub, arg, ...extra] = positionals;
  const onlyFor = (flag: string, where: string) => {
    throw new UsageError(`--${flag} goes with ${where}, not ${JSON.stringify(positionals.join(' '))}`);
  };
  let result: Plan;
  let used: number;
  switch (command) {
    case undefined:
      throw new UsageError(`a command is needed; commands: ${COMMANDS}`);
    case 'help':
      return { kind: 'help' };
    case 'top':
      if (values.json) throw new UsageError('top: --json goes with status; top draws for people');
      result = { kind: 'top', once: values.once === true };
      used = 1;
      break;
    case 'status':
    case 'reload':
    case 'reopen':
      result = { kind: 'request', name: command, request: { command } };
      used = 1;
      break;
    case 'shutdown':
      result = { kind: 'request', name: command, request: { command, quick: values.quick === true } };
      used = 1;
      break;
    // "worker" and "workers" are the same word: `worker add 2` and `workers kill 123` work too.
    case 'worker':
    case 'workers':
      if (sub === 'add' || sub === 'remove') {
        const name = `${command} ${sub}`;
        const what = sub === 'add' ? 'the number of workers to add' : 'the number of workers to remove';
        const count = positive(arg, name, 'N', what);
        result = { kind: 'request', name: `${name} ${count}`, request: { command: `workers.${sub}`, count } };
      } else if (sub === 'kill') {
        const pid = positive(
          arg,
          `${command} kill`,
          'PID',
          'the pid of the worker to stop (`kelpie ctl status` lists them)',
        );
        result = { kind: 'request', name: `${command} kill ${pid}`, request: { command: 'worker.kill', pid } };
      } else {
        throw new UsageError(
          `${command}: ${sub === undefined ? 'missing' : `unknown subcommand ${JSON.stringify(sub)}, not`} one of: add N, remove N, kill PID`,
        );
      }
      used = 3;
      break;
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; commands: ${COMMANDS}`);
  }
  const rest = [sub, arg, ...extra].slice(used - 1).filter((word) => word !== undefined);
  if (rest.length) throw new UsageError(`${command}: unexpected ${JSON.stringify(rest.join(' '))}`);
  if (values.quick && command !== 'shutdown') onlyFor('quick', 'shutdown');
  if (values.once && command !== 'top') onlyFor('once', 'top');
  return result;
}

/** Run `kelpie ctl ARGS` (argv without "ctl"); resolves with the exit status. */
export async function ctlMain(argv: readonly string[], io: CtlIO = {}): Promise<number> {
  const env = io.env ?? process.env;
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const fail = (message: string): number => {
    stderr.write(`kelpie ctl: ${message}\n`);
    return ExitCode.ERROR;
  };
  let path: string;
  let json: boolean;
  let timeoutMs: number;
  let todo: Plan;
  // parseArgs would take the -1 of `workers remove -1` for an option: such words stand in as
  // placeholders, so the number is checked (and refused) where N and PID are.
  const numbers = new Map<string, string>();
  const args = argv.map((word, i) => {
    if (!/^-\d/.test(word)) return word;
    numbers.set(`\0${i}`, word);
    return `\0${i}`;
  });
  const original = (word: string) => numbers.get(word) ?? word;
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        'control-socket': { type: 'string' },
        timeout: { type: 'string' },
        json: { type: 'boolean' },
        quick: { type: 'boolean' },
        once: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    todo = values.help ? { kind: 'help' } : plan(positionals.map(original), values);
    const socket = values['control-socket'];
    path = resolve(socket === undefined ? defaultControlSocket(env) : original(socket));
    json = values.json === true;
    timeoutMs = seconds(values.timeout);
  } catch (error) {
    stderr.write(`${USAGE}\nkelpie ctl: ${(error as Error).message}\nTry 'kelpie ctl --help'.\n`);
    return ExitCode.USAGE;
  }
  if (todo.kind === 'help') {
    stdout.write(helpText(env));
    return ExitCode.OK;
  }
  const client = new ControlClient(path);
  try {
    const ask = (request: ControlRequest) => answer(client, request, path, timeoutMs);
    if (todo.kind === 'top') return await top(ask, path, todo.once, stdout, stderr);
    const response = await ask(todo.request);
    if (!response.ok) return fail(`${todo.name}: ${response.error}`);
    if (json) {
      stdout.write(`${JSON.stringify(response.result, null, 2)}\n`);
      return ExitCode.OK;
    }
    return report(todo.request, response.result, stdout, fail);
  } catch (error) {
    return fail(connectionTrouble(error, path));
  } finally {
    client.close();
  }
}

/** --timeout: seconds, more than 0; in ms. */
function seconds(raw: string | undefined): number {
  if (raw === undefined) return 10_000;
  const value = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || value <= 0) {
    throw new UsageError(
      `--timeout must be a number of seconds greater than 0, such as 10 or 0.5, not ${JSON.stringify(raw)}`,
    );
  }
  return value * 1000;
}

/** The server's answer, or a rejection when it takes longer than `timeoutMs` (an arbiter whose event loop is stuck). */
async function answer(client: ControlClient, request: ControlRequest, path: string, timeoutMs: number) {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`no answer on ${path} within ${timeoutMs / 1000} s (is the server stuck? --timeout waits longer)`),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([client.request(request), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A ControlConnectError's message, with what to do when a server died and left its socket. */
function connectionTrouble(error: unknown, path: string): string {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: string }).code === 'ECONNREFUSED') {
    return `${message}; start kelpie again (it replaces the stale socket) or remove ${path}`;
  }
  return message;
}

type Reporter<C extends ControlCommand> = (
  request: Extract<ControlRequest, { command: C }>,
  result: ControlResult<C>,
  fail: (message: string) => number,
) => string | number;

/** What `kelpie ctl` prints for each command's answer: text, or an exit status after `fail`. */
const REPORTS: { [C in ControlCommand]: Reporter<C> } = {
  status: (_request, result) => statusText(result, Date.now()),
  reload: () => 'Reloading: new workers are starting; the old ones stop once the new ones serve.\n',
  reopen: (_request, result, fail) => {
    const errors = result.errors ?? [];
    if (errors.length) return fail(`reopen: ${errors.join('; ')}`);
    return 'Log files reopened; each worker reopens its own as the USR1 sent to it arrives.\n';
  },
  shutdown: (request) =>
    request.quick
      ? 'Shutting down quickly: in-flight requests are dropped.\n'
      : 'Shutting down: in-flight requests finish first.\n',
  'workers.add': (_request, result) => `Number of workers: ${result.numWorkers}\n`,
  'workers.remove': (_request, result) => `Number of workers: ${result.numWorkers}\n`,
  'worker.kill': (request) => `Worker ${request.pid} is stopping; a new one will replace it.\n`,
};

function report(request: ControlRequest, result: unknown, stdout: Out, fail: (message: string) => number): number {
  const reporter = REPORTS[request.command] as Reporter<ControlCommand>;
  const text = reporter(request as never, result as never, fail);
  if (typeof text === 'number') return text;
  stdout.write(text);
  return ExitCode.OK;
}

// ---- Formatting: shared by `status` and `top`.

/** 42s, 3m05s, 2h07m, 4d03h. */
function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${two(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${two(m % 60)}m`;
  return `${Math.floor(h / 24)}d${two(h % 24)}h`;
}

const megabytes = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);

interface Column {
  title: string;
  left?: boolean;
  /** Narrow terminals lose the columns with the lowest number first; undefined never goes. */
  drop?: number;
  cell(worker: WorkerStatus): string;
}

function columns(now: number, rates?: Map<number, number | undefined>): Column[] {
  const list: (Column | false)[] = [
    { title: 'PID', cell: (w) => String(w.pid) },
    { title: 'AGE', drop: 1, cell: (w) => String(w.age) },
    { title: 'STATE', left: true, cell: (w) => w.state },
    { title: 'UPTIME', drop: 3, cell: (w) => duration(now - w.startedAt) },
    rates !== undefined && {
      title: 'REQ/S',
      cell: (w) => {
        const rate = rates.get(w.pid);
        return rate === undefined ? '-' : rate.toFixed(1);
      },
    },
    { title: 'REQUESTS', drop: 5, cell: (w) => String(w.requests) },
    { title: 'IN FLIGHT', drop: 6, cell: (w) => String(w.inFlight) },
    { title: 'RSS MB', drop: 7, cell: (w) => megabytes(w.rss) },
    { title: 'LAG MS', drop: 4, cell: (w) => (w.lag * 1000).toFixed(1) },
    { title: 'HEARTBEAT', drop: 2, cell: (w) => `${w.lastHeartbeat.toFixed(1)}s` },
  ];
  return list.filter((column): column is Column => column !== false);
}

/** The header line and one line per worker, dropping columns until they fit in `width`. */
function table(all: Column[], workers: WorkerStatus[], width = Number.POSITIVE_INFINITY): string[] {
  const chosen = [...all];
  const measure = () =>
    chosen.map((column) => Math.max(column.title.length, ...workers.map((w) => column.cell(w).length)));
  let widths = measure();
  const total = () => widths.reduce((sum, w) => sum + w, 0) + 2 * (widths.length - 1);
  while (total() > width) {
    const droppable = chosen.filter((c) => c.drop !== undefined).sort((a, b) => (a.drop ?? 0) - (b.drop ?? 0));
    if (!droppable.length) break;
    chosen.splice(chosen.indexOf(droppable[0] as Column), 1);
    widths = measure();
  }
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (chosen[i]?.left ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(chosen.map((c) => c.title)), ...workers.map((w) => line(chosen.map((c) => c.cell(w))))];
}

function workerCount(status: ServerStatus): string {
  const retiring = status.workers.filter((w) => w.state === 'retiring').length;
  const serving = status.workers.length - retiring;
  return `${serving}/${status.numWorkers}${retiring ? ` (+${retiring} retiring)` : ''}`;
}

/** `kelpie ctl status`: a header about the server, then the workers' table. */
function statusText(status: ServerStatus, now: number): string {
  const lines = [
    `Server     pid ${status.pid}, kelpie ${status.version}, ${status.state}, up ${duration(now - status.startedAt)}`,
    `App        ${status.appModule} (worker class ${status.workerClass})`,
    `Workers    ${workerCount(status)}`,
    `Listening  ${status.listeners.join(', ') || 'nothing'}`,
    '',
    ...table(columns(now), status.workers),
  ];
  return `${lines.join('\n')}\n`;
}

// ---- top

/** How far back requests per second look: the workers report their counts with each heartbeat (every second at most), so one refresh's difference would jump between 0 and twice the rate. */
const RATE_WINDOW_MS = 5_000;

interface Sample {
  at: number;
  requests: Map<number, number>;
}

/** Requests per second of each worker (undefined until it has two samples) and of all of them. */
function rates(history: Sample[]): { perWorker: Map<number, number | undefined>; total: number | undefined } {
  const latest = history.at(-1) as Sample;
  const perWorker = new Map<number, number | undefined>();
  let total: number | undefined;
  for (const [pid, requests] of latest.requests) {
    const first = history.find((sample) => sample !== latest && sample.requests.has(pid));
    if (!first) {
      perWorker.set(pid, undefined);
      continue;
    }
    const rate = ((requests - (first.requests.get(pid) as number)) * 1000) / (latest.at - first.at);
    perWorker.set(pid, rate);
    total = (total ?? 0) + rate;
  }
  return { perWorker, total };
}

const clip = (line: string, width: number) => (line.length > width ? `${line.slice(0, width - 1)}…` : line);

/** One screen of `top`, each line at most `width` long, at most `height` lines; `titles` is the column titles' line. */
function topFrame(
  status: ServerStatus,
  history: Sample[],
  now: number,
  screen: { width: number; height: number; live: boolean },
): { lines: string[]; titles: number } {
  const { width, height, live } = screen;
  const { perWorker, total } = rates(history);
  const sum = (of: (w: WorkerStatus) => number) => status.workers.reduce((n, w) => n + of(w), 0);
  const clock = new Date(now).toTimeString().slice(0, 8);
  const first = `kelpie ${status.version}  pid ${status.pid}  ${status.state}  up ${duration(now - status.startedAt)}  ${status.workerClass}  ${status.appModule}`;
  const header = [
    live && first.length + 2 + clock.length <= width ? `${first.padEnd(width - clock.length)}${clock}` : first,
    `workers ${workerCount(status)}  listening ${status.listeners.join(', ') || 'nothing'}`,
    `req/s ${total === undefined ? '-' : total.toFixed(1)}  in flight ${sum((w) => w.inFlight)}  requests ${sum((w) => w.requests)}  RSS ${megabytes(sum((w) => w.rss))} MB`,
    '',
  ];
  const [titles = '', ...rows] = table(columns(now, perWorker), status.workers, width);
  // Header, titles and the footer line take their rows; workers that do not fit are counted.
  const room = Math.max(1, height - header.length - 2);
  const shown = rows.length > room ? rows.slice(0, room - 1) : rows;
  if (shown.length < rows.length) shown.push(`… ${rows.length - shown.length} more`);
  const lines = [...header, titles, ...shown, ...(live ? ['q quit'] : [])];
  return { lines: lines.map((line) => clip(line, width)), titles: header.length };
}

const QUIT_KEYS = 'qQ\u0003\u0004';

/** Show the cursor again and leave the alternate screen: the shell is as it was. */
const RESTORE = '\x1b[?25h\x1b[?1049l';

/** `kelpie ctl top`: redraw once a second until q, Ctrl-C or the server goes away. */
async function top(
  ask: (request: ControlRequest) => Promise<ControlResponse>,
  path: string,
  once: boolean,
  stdout: Out,
  stderr: Err,
): Promise<number> {
  const history: Sample[] = [];
  const poll = async (): Promise<ServerStatus> => {
    const response = await ask({ command: 'status' });
    if (!response.ok) throw new Error(`status: ${response.error}`);
    const status = response.result as ControlResult<'status'>;
    const at = Date.now();
    history.push({ at, requests: new Map(status.workers.map((w) => [w.pid, w.requests])) });
    while (history.length > 2 && (history[0] as Sample).at < at - RATE_WINDOW_MS) history.shift();
    return status;
  };
  // The first answer before anything is drawn: a server that cannot be reached is reported as for any command.
  let last = await poll();
  if (!stdout.isTTY || once) {
    const { lines } = topFrame(last, history, Date.now(), {
      // A pipe or a file gets whole lines; `--once` in a terminal fits it.
      width: stdout.isTTY ? (stdout.columns ?? 80) : Number.POSITIVE_INFINITY,
      height: Number.POSITIVE_INFINITY,
      live: false,
    });
    stdout.write(`${lines.join('\n')}\n`);
    return ExitCode.OK;
  }

  const stdin = process.stdin;
  return new Promise<number>((resolveExit) => {
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    const draw = () => {
      const width = stdout.columns ?? 80;
      const { lines, titles } = topFrame(last, history, Date.now(), { width, height: stdout.rows ?? 24, live: true });
      // The column titles in reverse video, across the screen.
      lines[titles] = `\x1b[7m${(lines[titles] as string).padEnd(width)}\x1b[0m`;
      // Home, each line over the old one (clearing what is left of it), then clear below.
      stdout.write(`\x1b[H${lines.map((line) => `${line}\x1b[K`).join('\r\n')}\x1b[J`);
    };
    const finish = (code: number, why: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.off('SIGHUP', onSignal);
      (stdout as NodeJS.WriteStream).off?.('resize', draw);
      stdin.off('data', onKey);
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
      stdout.write(RESTORE);
      (code === ExitCode.OK ? stdout : stderr).write(`${code === ExitCode.OK ? '' : 'kelpie ctl: '}${why}\n`);
      resolveExit(code);
    };
    const onKey = (key: Buffer) => {
      // q, Q, Ctrl-C (raw mode delivers it as a byte, not SIGINT), Ctrl-D.
      if ([...key.toString('latin1')].some((char) => QUIT_KEYS.includes(char)))
        finish(ExitCode.OK, 'kelpie ctl top: quit');
    };
    const onSignal = () => finish(ExitCode.OK, 'kelpie ctl top: quit');
    const tick = async () => {
      const started = Date.now();
      try {
        last = await poll();
      } catch (error) {
        finish(ExitCode.ERROR, `top: the server went away: ${connectionTrouble(error, path)}`);
        return;
      }
      if (finished) return;
      draw();
      timer = setTimeout(tick, Math.max(0, 1000 - (Date.now() - started)));
    };
    const first = () => {
      draw();
      timer = setTimeout(tick, 1000);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onSignal);
    (stdout as NodeJS.WriteStream).on?.('resize', draw);
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
    // The alternate screen keeps the shell's scrollback as it was; the cursor would blink over the table.
    stdout.write('\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J');
    first();
  });
}
