import { ExitCode } from '@kelpie/core';
import type { ControlRequest, ControlResponse, ControlResult, ServerStatus, WorkerStatus } from '@kelpie/core/internal';
import type { CtlIO } from './ctl.js';

/**
 * What `kelpie ctl` shows people: the `status` text, the live `top` view, and how a server that
 * cannot be reached is explained. ctl.ts parses the command line and talks to the server.
 */

type Out = NonNullable<CtlIO['stdout']>;
type Err = NonNullable<CtlIO['stderr']>;

/** A ControlConnectError's message, with what to do when a server died and left its socket. */
export function connectionTrouble(error: unknown, path: string): string {
  const message = error instanceof Error ? error.message : String(error);
  if ((error as { code?: string }).code === 'ECONNREFUSED') {
    return `${message}; start kelpie again (it replaces the stale socket) or remove ${path}`;
  }
  return message;
}

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
export function statusText(status: ServerStatus, now: number): string {
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
export async function top(
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
