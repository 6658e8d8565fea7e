/**
 * Reload under load: wrk keeps 32 keep-alive connections busy on hello-world for a fixed time
 * while the server replaces its workers, and every failed request is counted (wrk's socket
 * errors and non-2xx answers). kelpie's three ways (HUP, the USR2 binary upgrade, --max-requests
 * recycling) beside PM2's `pm2 reload` of the same app, plus kelpie with nothing happening as the
 * baseline. wrk never retries, so a reset keep-alive connection counts.
 */
import { peers } from './peers/index.js';
import { signal } from './peers/spawn.js';
import { paddedMarkdownTable } from './report.js';
import { scenarios } from './scenarios.js';
import type { RunningServer, Scenario } from './types.js';
import { runWrk } from './wrk.js';

export interface ReloadResult {
  side: string;
  /** What happened during the run. */
  events: string;
  seconds: number;
  requests: number;
  rps: number;
  errors: number;
  errorDetail: string;
}

export interface ReloadOptions {
  seconds: number;
  connections: number;
  threads: number;
  freePort: () => Promise<number>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`reload bench: timed out waiting for ${what}`);
    await sleep(50);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Side {
  side: string;
  peer: 'kelpie' | 'pm2';
  kelpieArgs?: string[];
  /** Runs while wrk loads the server; resolves with a description of what it did. */
  act(server: RunningServer, seconds: number): Promise<string>;
  /** Processes it started beyond the server's own tree (the new arbiter of USR2). */
  strays?: number[];
}

const count = (server: RunningServer, pattern: RegExp) => (server.output?.() ?? '').match(pattern)?.length ?? 0;

function sides(): Side[] {
  const usr2: Side = {
    side: 'kelpie USR2 upgrade',
    peer: 'kelpie',
    strays: [],
    async act(server, seconds) {
      await sleep(1500);
      signal(server.pid, 'SIGUSR2');
      let next = 0;
      await waitFor('the new arbiter', () => {
        next = Number(/Started a new arbiter \(pid: (\d+)\)/.exec(server.output?.() ?? '')?.[1] ?? 0);
        return next > 0;
      });
      usr2.strays?.push(next);
      await waitFor('the new workers', () =>
        new RegExp(`\\[${next}\\] \\[INFO\\] Ready:`).test(server.output?.() ?? ''),
      );
      signal(server.pid, 'SIGWINCH');
      await sleep(1000);
      signal(server.pid, 'SIGTERM');
      await waitFor('the old arbiter to exit', () => !alive(server.pid));
      await sleep(Math.max(0, seconds * 1000 - 6000));
      return 'USR2 at 1.5 s, then WINCH and TERM of the old arbiter; the new one serves on';
    },
  };
  return [
    {
      side: 'kelpie (baseline)',
      peer: 'kelpie',
      act: async () => 'nothing',
    },
    {
      side: 'kelpie HUP',
      peer: 'kelpie',
      async act(server, seconds) {
        // The same schedule as PM2's reloads below.
        const times = Math.max(1, Math.floor(seconds / 4));
        for (let i = 0; i < times; i++) {
          await sleep(i === 0 ? 2000 : 4000);
          signal(server.pid, 'SIGHUP');
        }
        await sleep(Math.max(0, seconds * 1000 - (2000 + 4000 * (times - 1)) - 200));
        return `${times} HUP, at 2 s and every 4 s after`;
      },
    },
    usr2,
    {
      side: 'kelpie --max-requests',
      peer: 'kelpie',
      kelpieArgs: ['--max-requests', '5000', '--max-requests-jitter', '500'],
      async act(server, seconds) {
        await sleep(seconds * 1000 - 200);
        return `--max-requests 5000 --max-requests-jitter 500: ${count(server, /Autorestarting worker/g)} workers recycled`;
      },
    },
    {
      side: 'PM2 reload',
      peer: 'pm2',
      async act(server, seconds) {
        const times = Math.max(1, Math.floor(seconds / 4));
        const start = Date.now();
        for (let i = 0; i < times; i++) {
          await sleep(Math.max(0, start + 2000 + 4000 * i - Date.now()));
          await server.reload?.();
        }
        return `${times} \`pm2 reload\`, at 2 s and every 4 s after`;
      },
    },
  ];
}

export async function runReloadBench(options: ReloadOptions): Promise<ReloadResult[]> {
  const hello = scenarios.find((s) => s.name === 'hello') as Scenario;
  const results: ReloadResult[] = [];
  for (const side of sides()) {
    const port = await options.freePort();
    const scenario: Scenario = { ...hello, kelpieArgs: side.kelpieArgs };
    const server = await peers[side.peer].start({ scenario, workers: 2, port, env: {} });
    try {
      const load = runWrk({
        url: `http://127.0.0.1:${port}${hello.path}`,
        connections: options.connections,
        threads: options.threads,
        seconds: options.seconds,
        method: 'GET',
      });
      const events = await side.act(server, options.seconds);
      const result = await load;
      results.push({
        side: side.side,
        events,
        seconds: options.seconds,
        requests: result.requests,
        rps: result.rps,
        errors: result.errors,
        errorDetail: result.errorDetail,
      });
      console.log(
        `${side.side}: ${result.requests} requests, ${result.errors} failed (${result.errorDetail}); ${events}`,
      );
    } finally {
      await server.stop().catch(() => {});
      for (const pid of side.strays ?? []) {
        if (alive(pid)) signal(pid, 'SIGTERM');
        await waitFor(`pid ${pid} to exit`, () => !alive(pid), 15_000).catch(() => signal(pid, 'SIGKILL'));
      }
    }
  }
  return results;
}

/** The markdown table of a reload run. */
export function reloadTable(results: ReloadResult[]): string {
  const pm2 = results.find((r) => r.side === 'PM2 reload');
  return paddedMarkdownTable(
    ['side', 'during the run', 'requests served', 'req/s', 'req/s vs PM2 reload', 'failed'],
    results.map((r) => [
      r.side,
      r.events,
      String(r.requests),
      String(Math.round(r.rps)),
      pm2 && r.side !== pm2.side ? `${(r.rps / pm2.rps).toFixed(2)}x` : '',
      `${r.errors} (${r.errorDetail})`,
    ]),
  );
}
