import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ExitCode } from '@kelpie/core';
import {
  ControlClient,
  type ControlCommand,
  type ControlRequest,
  type ControlResult,
  defaultControlSocket,
} from '@kelpie/core/internal';
import { connectionTrouble, statusText, top } from './ctl-view.js';

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
