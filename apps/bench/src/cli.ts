import { spawn } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureCommand } from '@kelpie/testkit/apt';
import { cpuSeconds, cpuSnapshot } from './cpu.js';
import { runCurvesCommand } from './curves.js';
import { latencyCommand } from './latency.js';
import { describeMachine, timeStamp } from './machine.js';
import { rssOf } from './memory.js';
import { peers } from './peers/index.js';
import { benchNode, registryNode } from './peers/node-runtime.js';
import { stopTree, waitForHttp } from './peers/spawn.js';
import { reloadTable, runReloadBench } from './reload.js';
import { formatReport, markdownTables } from './report.js';
import { type BenchReport, type GroupResult, median, type SideResult, writeNewResultFile } from './results.js';
import { quickScenarios, scenarios } from './scenarios.js';
import { startupCommand } from './startup.js';
import { chartSvg } from './svg.js';
import { runTlsBench, tlsTables } from './tls.js';
import type { NodeRuntime, PeerName, RunningServer, Scenario } from './types.js';
import { runWrk } from './wrk.js';
import { holdWsConnections, runWsLoad } from './ws-load-runner.js';

const USAGE = `usage: pnpm bench [--quick] [--scenario a,b] [--peers a,b] [--workers 1,2] [--rounds N]
                  [--seconds N] [--warmup N] [--threads N] [--docs] [--render FILE] [--no-write]
       pnpm bench --reload [--seconds N] [--no-write]
       pnpm bench --startup [--workers N] [--rounds N] [--peers a,b] [--no-write]
       pnpm bench --tls [--seconds N] [--rounds N] [--warmup N] [--threads N] [--no-write]
       pnpm bench --latency [--scenario a,b] [--peers a,b] [--seconds N] [--rounds N] [--threads N] [--docs] [--no-write]
       pnpm bench --curves [--seconds N] [--top-seconds N] [--rounds N] [--warmup N] [--threads N] [--docs] [--render FILE] [--no-write]

  --quick      smoke run, 2 workers, 1 round of 2 s: hello, kelpie vs node:cluster, and kelpie with
               --access-logfile vs without (under 90 s)
  --scenario   only these scenarios (${scenarios.map((s) => s.name).join(', ')});
               listen-express runs one unchanged Express file that calls app.listen() under kelpie,
               PM2 and node:cluster; listen-express-26 the same plus Platformatic Watt, every side
               on Node 26 (node@26 and wattpm from npm, installed once into the bench's cache folder:
               $KELPIE_BENCH_CACHE, else ~/.cache/kelpie-bench); hello-26, json-26 and express-26
               are hello, json and express with Watt too, every side on Node 26
  --peers      only these peers (${Object.keys(peers).join(', ')})
  --workers    worker counts, overriding each scenario's own
  --rounds     rounds; in each, kelpie and each peer are loaded back to back (default 3)
  --seconds    measured seconds per run (default 2)
  --warmup     warm-up seconds for each server before its first measured run (default 1)
  --threads    wrk threads (default 2)
  --docs       also write docs/benchmarks.svg and docs/benchmarks-results.md
  --render F   only rewrite those two docs from a saved results file F
  --no-write   print only; write no results file
  --reload     reload under load instead: kelpie HUP, USR2 upgrade and --max-requests recycling,
               and PM2's \`pm2 reload\`, each under wrk for --seconds (default 10); failed requests counted
  --tls        TLS and HTTP/2 instead: kelpie plain, over TLS and with h2,h1, beside node:cluster with
               http, https and http2, hello world, 2 workers, 32 connections; wrk for HTTP/1.1, h2load
               (Debian's nghttp2-client) for HTTP/2; --seconds per run (default 5), --rounds (default 3)
  --latency    latency at fixed request rates instead: node:cluster's saturated rate (wrk), then kelpie,
               node:cluster, PM2 and Watt, 2 workers each, each driven at 25%, 50% and 75% of it by an
               open-model generator (64 connections, latency from each request's intended send time):
               p50, p99, p99.9, medians of the rounds with their range; hello-26 unless --scenario (GET
               scenarios); every side gets the same warm-up and saturated run, the sides take turns in a
               balanced order, and each run waits for the machine to settle; --seconds per run (default
               10), --rounds (default 1), --threads generator threads (default 1); --docs writes
               docs/benchmarks-latency.svg
  --curves     cost curves instead: hello world, 2 workers, kelpie vs node:cluster (RR) at 10, 100, 1,000 and
               10,000 keep-alive connections (req/s, p99, worker RSS), and memory per idle connection (10,000
               held), with the connections each worker held late in each run and served in all; the side
               loaded first alternates by step and round, each run after the machine settled and --warmup s
               at its step (below 10,000); --seconds per run (default 5),
               --top-seconds for the 10,000 step (default --seconds), --rounds (default 3); needs an open-file limit of 11,024
               (ulimit -n); --docs writes docs/benchmarks-curves.svg, --render F only redraws it from F
  --startup    startup instead: ms from spawn until every worker has answered (GET /pid on fresh
               connections), kelpie vs node:cluster (RR) and PM2, hello, --workers N (default 2),
               --rounds (default 5), sides alternating; --peers picks the peers`;

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

const running = new Set<RunningServer>();
let stopping = false;
async function interrupt(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`\nbench: ${signal}: stopping the server under test…`);
  await Promise.all([...running].map((server) => server.stop().catch(() => {})));
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
      'top-seconds': { type: 'string' },
      warmup: { type: 'string' },
      threads: { type: 'string' },
      docs: { type: 'boolean' },
      render: { type: 'string' },
      'no-write': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      reload: { type: 'boolean' },
      tls: { type: 'boolean' },
      latency: { type: 'boolean' },
      curves: { type: 'boolean' },
      startup: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.curves) return runCurvesCommand(values, { freePort, running, interrupt, resultsDir, docsDir });
  if (values.render) {
    writeDocs(JSON.parse(readFileSync(values.render, 'utf8')) as BenchReport);
    return 0;
  }
  if (values.startup) {
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    return startupCommand({ ...values, write: !values['no-write'] }, { freePort, running });
  }
  if (values.reload) {
    const missing = await ensureCommand('wrk', 'wrk');
    if (missing) {
      console.error(`bench: cannot run without wrk: ${missing}`);
      return 1;
    }
    const reloadSeconds = Number(values.seconds ?? 10);
    const results = await runReloadBench({ seconds: reloadSeconds, connections: 32, threads: 2, freePort });
    const table = reloadTable(results);
    console.log(`\n${table}`);
    if (!values['no-write']) {
      mkdirSync(resultsDir, { recursive: true });
      const file = writeNewResultFile(
        `${resultsDir}reload-${timeStamp()}.json`,
        `${JSON.stringify({ date: new Date().toISOString(), node: process.version, results }, null, 2)}\n`,
      );
      console.log(`results: ${file}`);
    }
    return results.some((r) => r.side.startsWith('kelpie') && r.errors > 0) ? 1 : 0;
  }
  const quick = values.quick === true;
  const rounds = Number(values.rounds ?? (quick || values.latency ? 1 : 3));
  const seconds = Number(values.seconds ?? (values.tls ? 5 : values.latency ? 10 : 2));
  const warmup = Number(values.warmup ?? 1);
  const threads = Number(values.threads ?? (values.latency ? 1 : 2));
  for (const [name, n] of Object.entries({ rounds, seconds, warmup, threads })) {
    if (!Number.isInteger(n) || n < (name === 'warmup' ? 0 : 1)) {
      console.error(`bench: --${name} must be a whole number${name === 'warmup' ? '' : ' of 1 or more'}\n\n${USAGE}`);
      return 2;
    }
  }
  if (values.tls) return runTls({ rounds, seconds, warmup, threads, write: !values['no-write'] });
  if (values.latency) {
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    const [scenarioNames, peerNames] = [list(values.scenario), list(values.peers)];
    const command = `pnpm bench ${process.argv.slice(2).join(' ')}`;
    const write = !values['no-write'];
    const common = { resultsDir, docsDir, freePort, running, command, write, docs: values.docs === true };
    return latencyCommand({ ...common, scenarioNames, peerNames, seconds, rounds, warmup, threads });
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
  // The Node majors from the registry that scenarios run on (Node 26 for Watt), or why not.
  const runtimes = new Map<number, NodeRuntime | { reason: string }>();
  for (const major of new Set(chosen.flatMap((s) => (s.node === undefined ? [] : [s.node])))) {
    runtimes.set(major, await registryNode(major));
  }

  const report: BenchReport = {
    date: timeStamp(),
    command: `pnpm bench ${process.argv.slice(2).join(' ')}`.trim(),
    machine: describeMachine(),
    load: { tool: 'wrk', threads, seconds, warmupSeconds: warmup, rounds, pipelining: 1 },
    cpuIterations,
    groups: [],
  };
  console.log(
    `bench: wrk -t${threads}, ${seconds} s runs after ${warmup} s warm-up, ${rounds} round(s) of kelpie and each peer back to back; ` +
      `CPU scenario: ${cpuIterations} PBKDF2 iterations (~5 ms)`,
  );

  for (const scenario of chosen) {
    const runtime = scenario.node === undefined ? benchNode : runtimes.get(scenario.node);
    const node = runtime && 'path' in runtime ? runtime : undefined;
    const noNode = runtime && 'reason' in runtime ? `no Node ${scenario.node}: ${runtime.reason}` : undefined;
    // A scenario's own app may need building first (the Next.js page); if that fails, it is skipped.
    const notReady = noNode ? undefined : await scenario.prepare?.();
    for (const workers of scenario.workers) {
      const group: GroupResult = {
        scenario: scenario.name,
        // A scenario on another Node says which, in every table.
        title:
          scenario.node === undefined ? scenario.title : `${scenario.title}, Node ${node?.version ?? scenario.node}`,
        workers,
        connections: scenario.connections,
        ...(node && scenario.node !== undefined ? { node: node.version } : {}),
        sides: (['kelpie', ...scenario.peers] as PeerName[]).map((name): SideResult => {
          const skipped = noNode ?? notReady ?? skipReasons.get(name);
          return {
            side: name,
            label: peers[name].label,
            rounds: [],
            startupMs: [],
            rss: [],
            ...(skipped ? { skipped } : {}),
          };
        }),
      };
      report.groups.push(group);
      await runGroup(scenario, workers, group, { rounds, seconds, warmup, threads, env, ...(node ? { node } : {}) });
    }
  }

  report.memory = await measureMemory({ rounds, seconds, warmup, threads });
  if (chosen.some((s) => s.name === 'ws-echo')) report.wsHold = await measureWsHold();
  console.log(`\n${formatReport(report)}`);
  if (!values['no-write']) {
    mkdirSync(resultsDir, { recursive: true });
    const file = writeNewResultFile(
      `${resultsDir}${report.date}${quick ? '-quick' : ''}.json`,
      `${JSON.stringify(report, null, 2)}\n`,
    );
    console.log(`\nbench: wrote ${file}`);
  }
  if (values.docs) writeDocs(report);
  return 0;
}

/** The TLS and HTTP/2 bench (src/tls.ts): prints its tables, writes results/tls-<date>.json. */
async function runTls(options: { rounds: number; seconds: number; warmup: number; threads: number; write: boolean }) {
  const wrkMissing = await ensureCommand('wrk', 'wrk');
  if (wrkMissing) {
    console.error(`bench: cannot run without wrk: ${wrkMissing}`);
    return 1;
  }
  const h2loadMissing = await ensureCommand('h2load', 'nghttp2-client');
  if (h2loadMissing) console.error(`bench: the HTTP/2 runs are skipped: ${h2loadMissing}`);
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const report = await runTlsBench({ ...options, h2loadMissing, freePort, running });
  console.log(`\n${tlsTables(report)}`);
  if (options.write) {
    mkdirSync(resultsDir, { recursive: true });
    const file = writeNewResultFile(`${resultsDir}tls-${report.date}.json`, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nresults: ${file}`);
  }
  // Failed requests or a run that broke on kelpie's side fail the run, as in --reload.
  const kelpieBroke = report.runs.some(
    (run) =>
      run.id.startsWith('kelpie') &&
      (run.loads.some((r) => r.errors > 0) || (run.skipped && run.skipped !== h2loadMissing)),
  );
  return kelpieBroke ? 1 : 0;
}

/** docs/benchmarks.svg and docs/benchmarks-results.md from a report. */
function writeDocs(report: BenchReport): void {
  writeFileSync(`${docsDir}benchmarks.svg`, chartSvg(report));
  writeFileSync(
    `${docsDir}benchmarks-results.md`,
    `<!-- Written by \`${report.command}\` on ${report.date}; see benchmarks.md. -->\n\n${markdownTables(report)}`,
  );
  console.log(`bench: wrote ${docsDir}benchmarks.svg and benchmarks-results.md`);
}

interface RunOptions {
  rounds: number;
  seconds: number;
  warmup: number;
  threads: number;
  env?: Record<string, string>;
  /** The Node the sides run on. Default: the bench's own. */
  node?: NodeRuntime;
}

/**
 * One scenario at one worker count. Every side is started once (timed to its first 200) and warmed
 * up; then, round after round, kelpie and each peer are loaded back to back (kelpie first in odd
 * rounds, second in even ones), so whatever the shared machine is doing at that moment weighs on
 * both halves of each ratio. Idle sides wait on their
 * own ports meanwhile. Memory is sampled after the load, then everything is stopped.
 */
async function runGroup(scenario: Scenario, workers: number, group: GroupResult, options: RunOptions): Promise<void> {
  const servers = new Map<SideResult, { server: RunningServer; url: string }>();
  try {
    for (const side of group.sides) {
      if (side.skipped) continue;
      const port = await freePort();
      const started = performance.now();
      try {
        const server = await peers[side.side].start({
          scenario,
          workers,
          port,
          env: { ...options.env, ...scenario.env },
          ...(options.node ? { node: options.node } : {}),
        });
        running.add(server);
        side.startupMs.push(performance.now() - started);
        servers.set(side, { server, url: `http://127.0.0.1:${port}${scenario.path}` });
      } catch (error) {
        side.skipped = `failed to start: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
      }
    }
    /** One run against `target`, with the CPU its process tree spent per request. */
    const load = async ({ server, url }: { server: RunningServer; url: string }, seconds: number) => {
      const before = cpuSnapshot(server.pids());
      const result = await (scenario.load === 'ws-echo' ? runWsLoad : runWrk)({
        url,
        seconds,
        connections: scenario.connections,
        threads: options.threads,
        method: scenario.method,
        ...(scenario.bodyBytes ? { bodyBytes: scenario.bodyBytes } : {}),
        ...(scenario.closeConnections ? { closeConnections: true } : {}),
      });
      const cpu = cpuSeconds(before, cpuSnapshot(server.pids()));
      return result.requests > 0 ? { ...result, cpuUsPerRequest: (cpu * 1e6) / result.requests } : result;
    };
    if (options.warmup > 0) for (const target of servers.values()) await load(target, options.warmup);
    const kelpieSide = group.sides[0] as SideResult;
    const kelpie = servers.get(kelpieSide);
    if (!kelpie) return;
    for (let round = 1; round <= options.rounds; round++) {
      for (const [side, target] of servers) {
        if (side === kelpieSide) continue;
        // Alternate which of the pair goes first, so neither side always gets the warmer slot.
        const kelpieFirst = round % 2 === 1;
        const first = await load(kelpieFirst ? kelpie : target, options.seconds);
        const second = await load(kelpieFirst ? target : kelpie, options.seconds);
        const [mine, theirs] = kelpieFirst ? [first, second] : [second, first];
        kelpieSide.rounds.push(mine);
        side.kelpieRounds = [...(side.kelpieRounds ?? []), mine];
        side.rounds.push(theirs);
        console.log(
          `${scenario.name} w${workers} round ${round}: kelpie ${Math.round(mine.rps)} req/s, ` +
            `${side.label} ${Math.round(theirs.rps)} req/s (errors ${mine.errors}/${theirs.errors})`,
        );
      }
    }
    for (const [side, { server }] of servers) {
      side.rss.push({
        manager: rssOf(server.pid),
        workers: server
          .pids()
          .filter((pid) => pid !== server.pid)
          .map(rssOf),
      });
    }
  } finally {
    for (const { server } of servers.values()) {
      await server.stop();
      running.delete(server);
    }
  }
}

/**
 * Memory: a bare node:http process and a fresh `kelpie -w 2`, both serving the hello handler,
 * each given the same warm-up and measured load, then sampled. (The groups' own RSS figures come
 * after unequal amounts of load, so they are not used for this comparison.)
 */
/**
 * Memory per WebSocket connection: 1,000 idle connections held against kelpie -k ws and against
 * a raw ws server in node:cluster, 2 workers each; worker RSS is summed before and while holding.
 */
async function measureWsHold(): Promise<BenchReport['wsHold']> {
  const scenario = scenarios.find((s) => s.name === 'ws-echo') as Scenario;
  const connections = 1000;
  const workers = 2;
  const measure = async (side: 'kelpie' | 'ws-cluster') => {
    const port = await freePort();
    const server = await peers[side].start({ scenario, workers, port, env: {} });
    running.add(server);
    try {
      const workerRss = () =>
        server
          .pids()
          .filter((pid) => pid !== server.pid)
          .reduce((sum, pid) => sum + rssOf(pid), 0);
      const before = workerRss();
      const holding = await holdWsConnections(`http://127.0.0.1:${port}/`, connections, workerRss);
      return { before, holding };
    } finally {
      await server.stop();
      running.delete(server);
    }
  };
  return { connections, workers, kelpie: await measure('kelpie'), cluster: await measure('ws-cluster') };
}

async function measureMemory(options: RunOptions): Promise<BenchReport['memory']> {
  const hello = scenarios.find((s) => s.name === 'hello') as Scenario;
  const loadAndSample = async (url: string, pids: () => number[]) => {
    const load = { url, connections: hello.connections, threads: options.threads, method: 'GET' as const };
    if (options.warmup > 0) await runWrk({ ...load, seconds: options.warmup });
    await runWrk({ ...load, seconds: options.seconds });
    return pids().map(rssOf);
  };
  const port = await freePort();
  const bare = spawn(process.execPath, [`${appsDir}bare-node.mjs`], {
    env: { ...process.env, PORT: String(port) },
    stdio: 'ignore',
  });
  let bareNode: number;
  try {
    await waitForHttp(`http://127.0.0.1:${port}/hello`, { timeoutMs: 10_000 });
    [bareNode = 0] = await loadAndSample(`http://127.0.0.1:${port}/hello`, () => [bare.pid as number]);
  } finally {
    await stopTree(bare.pid as number);
  }
  const kelpiePort = await freePort();
  const kelpie = await peers.kelpie.start({ scenario: hello, workers: 2, port: kelpiePort, env: {} });
  running.add(kelpie);
  try {
    const workers = kelpie.pids().filter((pid) => pid !== kelpie.pid);
    const sizes = await loadAndSample(`http://127.0.0.1:${kelpiePort}/hello`, () => [kelpie.pid, ...workers]);
    return { bareNode, kelpieArbiter: sizes[0] ?? 0, kelpieWorkers: sizes.slice(1) };
  } finally {
    await kelpie.stop();
    running.delete(kelpie);
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error('bench:', error);
    for (const server of running) void server.stop();
    process.exit(1);
  },
);
