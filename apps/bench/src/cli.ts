import { spawn } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, availableParallelism, cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureCommand } from './apt.js';
import { rssOf } from './memory.js';
import { peers } from './peers/index.js';
import { stopTree, waitForHttp } from './peers/spawn.js';
import { formatReport, markdownTables } from './report.js';
import { type BenchReport, type GroupResult, median, type SideResult } from './results.js';
import { quickScenarios, scenarios } from './scenarios.js';
import { chartSvg } from './svg.js';
import type { PeerName, RunningServer, Scenario } from './types.js';
import { runWrk } from './wrk.js';

const USAGE = `usage: pnpm bench [--quick] [--scenario a,b] [--peers a,b] [--workers 1,2] [--rounds N]
                  [--seconds N] [--warmup N] [--threads N] [--docs] [--no-write]

  --quick      smoke run: hello, 2 workers, kelpie vs node:cluster, 1 round of 2 s (under 90 s)
  --scenario   only these scenarios (${scenarios.map((s) => s.name).join(', ')})
  --peers      only these peers (${Object.keys(peers).join(', ')})
  --workers    worker counts, overriding each scenario's own
  --rounds     interleaved rounds per side (default 3)
  --seconds    measured seconds per run (default 3)
  --warmup     warm-up seconds before each measured run (default 1)
  --threads    wrk threads (default 2)
  --docs       also write docs/benchmarks.svg and docs/benchmarks-results.md
  --no-write   print only; write no results file`;

const appsDir = fileURLToPath(new URL('../apps/', import.meta.url));
const resultsDir = fileURLToPath(new URL('../results/', import.meta.url));
const docsDir = fileURLToPath(new URL('../../../docs/', import.meta.url));

const list = (value: string | undefined) =>
  value
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Iterations of PBKDF2-SHA256 that take about 5 ms here, so every side does the same work. */
function calibrateCpu(targetMs = 5): number {
  const probe = 20_000;
  pbkdf2Sync('kelpie', 'bench', probe, 32, 'sha256');
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = process.hrtime.bigint();
    pbkdf2Sync('kelpie', 'bench', probe, 32, 'sha256');
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return Math.max(1000, Math.round((probe * targetMs) / median(times)));
}

let running: RunningServer | undefined;
let stopping = false;
async function interrupt(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`\nbench: ${signal}: stopping the server under test…`);
  await running?.stop().catch(() => {});
  process.exit(130);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' },
      scenario: { type: 'string' },
      peers: { type: 'string' },
      workers: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      threads: { type: 'string' },
      docs: { type: 'boolean' },
      'no-write': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const quick = values.quick === true;
  const rounds = Number(values.rounds ?? (quick ? 1 : 3));
  const seconds = Number(values.seconds ?? (quick ? 2 : 3));
  const warmup = Number(values.warmup ?? 1);
  const threads = Number(values.threads ?? 2);
  for (const [name, n] of Object.entries({ rounds, seconds, warmup, threads })) {
    if (!Number.isInteger(n) || n < (name === 'warmup' ? 0 : 1)) {
      console.error(`bench: --${name} must be a whole number${name === 'warmup' ? '' : ' of 1 or more'}\n\n${USAGE}`);
      return 2;
    }
  }
  const onlyScenarios = list(values.scenario);
  const onlyPeers = list(values.peers) as PeerName[] | undefined;
  const workerCounts = list(values.workers)?.map(Number);
  for (const name of onlyScenarios ?? []) {
    if (!scenarios.some((s) => s.name === name)) {
      console.error(`bench: unknown scenario "${name}"\n\n${USAGE}`);
      return 2;
    }
  }
  for (const name of onlyPeers ?? []) {
    if (!(name in peers)) {
      console.error(`bench: unknown peer "${name}"\n\n${USAGE}`);
      return 2;
    }
  }
  const chosen: Scenario[] = (quick ? quickScenarios : scenarios)
    .filter((s) => !onlyScenarios || onlyScenarios.includes(s.name))
    .map((s) => ({
      ...s,
      peers: s.peers.filter((p) => !onlyPeers || onlyPeers.includes(p)),
      workers: workerCounts ?? s.workers,
    }));

  const wrkMissing = await ensureCommand('wrk', 'wrk');
  if (wrkMissing) {
    console.error(`bench: cannot run without wrk: ${wrkMissing}`);
    return 1;
  }
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  const cpuIterations = calibrateCpu();
  const env = { BENCH_CPU_ITERATIONS: String(cpuIterations) };
  const skipReasons = new Map<PeerName, string | undefined>();
  for (const name of new Set<PeerName>(['kelpie', ...chosen.flatMap((s) => s.peers)])) {
    skipReasons.set(name, await peers[name].prepare());
  }

  const report: BenchReport = {
    date: new Date().toISOString().slice(0, 16).replace(':', '-'),
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cores: availableParallelism(),
      cpu: cpus()[0]?.model.trim() ?? arch(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      kernel: release(),
    },
    load: { tool: 'wrk', threads, seconds, warmupSeconds: warmup, rounds, pipelining: 1 },
    cpuIterations,
    groups: [],
  };
  console.log(
    `bench: wrk -t${threads}, ${seconds} s runs after ${warmup} s warm-up, ${rounds} interleaved round(s); ` +
      `CPU scenario: ${cpuIterations} PBKDF2 iterations (~5 ms)`,
  );

  for (const scenario of chosen) {
    for (const workers of scenario.workers) {
      const group: GroupResult = {
        scenario: scenario.name,
        title: scenario.title,
        workers,
        connections: scenario.connections,
        sides: (['kelpie', ...scenario.peers] as PeerName[]).map(
          (name): SideResult => ({
            side: name,
            label: peers[name].label,
            rounds: [],
            startupMs: [],
            rss: [],
            ...(skipReasons.get(name) ? { skipped: skipReasons.get(name) } : {}),
          }),
        ),
      };
      report.groups.push(group);
      for (let round = 1; round <= rounds; round++) {
        for (const side of group.sides) {
          if (side.skipped) continue;
          await measure(scenario, workers, side, { seconds, warmup, threads, env });
          const last = side.rounds.at(-1);
          console.log(
            `${scenario.name} w${workers} round ${round}: ${side.label.padEnd(24)} ` +
              `${last ? `${Math.round(last.rps)} req/s, errors ${last.errors}` : 'failed'}`,
          );
        }
      }
    }
  }

  report.memory = await measureMemory(report, { seconds, warmup, threads });
  console.log(`\n${formatReport(report)}`);
  if (!values['no-write']) {
    mkdirSync(resultsDir, { recursive: true });
    const file = `${resultsDir}${report.date}${quick ? '-quick' : ''}.json`;
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nbench: wrote ${file}`);
  }
  if (values.docs) {
    writeFileSync(`${docsDir}benchmarks.svg`, chartSvg(report));
    writeFileSync(
      `${docsDir}benchmarks-results.md`,
      `<!-- Written by \`${report.command}\` on ${report.date}; see benchmarks.md. -->\n\n${markdownTables(report)}`,
    );
    console.log(`bench: wrote ${docsDir}benchmarks.svg and benchmarks-results.md`);
  }
  return 0;
}

interface RunOptions {
  seconds: number;
  warmup: number;
  threads: number;
  env?: Record<string, string>;
}

/** One side, one round: start it, warm up, measure, sample memory, stop it. */
async function measure(scenario: Scenario, workers: number, side: SideResult, options: RunOptions): Promise<void> {
  const port = await freePort();
  const started = performance.now();
  try {
    running = await peers[side.side].start({ scenario, workers, port, env: options.env ?? {} });
  } catch (error) {
    side.skipped = `failed to start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
    return;
  }
  side.startupMs.push(performance.now() - started);
  const server = running;
  try {
    const load = {
      url: `http://127.0.0.1:${port}${scenario.path}`,
      connections: scenario.connections,
      threads: options.threads,
      method: scenario.method,
      ...(scenario.bodyBytes ? { bodyBytes: scenario.bodyBytes } : {}),
    };
    if (options.warmup > 0) await runWrk({ ...load, seconds: options.warmup });
    side.rounds.push(await runWrk({ ...load, seconds: options.seconds }));
    const pids = server.pids();
    side.rss.push({
      manager: rssOf(server.pid),
      workers: pids.filter((pid) => pid !== server.pid).map(rssOf),
    });
  } finally {
    await server.stop();
    running = undefined;
  }
}

/** A bare node:http process under the same hello load, next to kelpie's arbiter and workers. */
async function measureMemory(report: BenchReport, options: RunOptions): Promise<BenchReport['memory']> {
  const port = await freePort();
  const child = spawn(process.execPath, [`${appsDir}bare-node.mjs`], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  try {
    await waitForHttp(`http://127.0.0.1:${port}/hello`, { timeoutMs: 10_000 });
    const load = {
      url: `http://127.0.0.1:${port}/hello`,
      connections: 100,
      threads: options.threads,
      method: 'GET' as const,
    };
    if (options.warmup > 0) await runWrk({ ...load, seconds: options.warmup });
    await runWrk({ ...load, seconds: options.seconds });
    const bareNode = rssOf(child.pid as number);
    const hello = report.groups.find((g) => g.scenario === 'hello')?.sides.find((s) => s.side === 'kelpie');
    if (!hello?.rss.length) return undefined;
    return {
      bareNode,
      kelpieArbiter: median(hello.rss.map((r) => r.manager)),
      kelpieWorkers: hello.rss.flatMap((r) => r.workers),
    };
  } finally {
    await stopTree(child.pid as number);
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error('bench:', error);
    void running?.stop();
    process.exit(1);
  },
);
