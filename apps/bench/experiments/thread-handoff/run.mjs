#!/usr/bin/env node
// Entry point of the thread-handoff experiment (see README.md). By default it loads each option
// with wrk, for 1 and 2 threads and each handler, and prints a Markdown table; with --stuck it
// runs the stuck-thread check of stuck.mjs for A, B and C instead.
import { parseArgs } from 'node:util';
import { freePort, nodeInfo, onPath, runWrk, startServer, stopAll } from './harness.mjs';
import { runStuck } from './stuck.mjs';

const USAGE =
  'usage: node run.mjs [--node PATH] [--seconds N] [--rounds N] [--options A,B,C,M] [--handlers hello,cpu] [--stuck]';
const OPTION_NAMES = {
  A: 'A own fd per thread',
  B: 'B reusePort',
  C: 'C main thread forwards',
  M: 'M main thread only',
};
const HANDLERS = ['hello', 'cpu'];
const THREAD_COUNTS = [1, 2];

class UsageError extends Error {}

let interrupted = false;

function positiveInteger(name, text) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, not "${text}"`);
  return n;
}

/** The items of a comma-separated list, in `allowed`'s order. */
function subset(name, text, allowed) {
  const items = text.split(',').map((item) => item.trim());
  const unknown = items.filter((item) => !allowed.includes(item));
  if (unknown.length > 0) throw new UsageError(`--${name}: unknown "${unknown.join(',')}" (from ${allowed.join(',')})`);
  return allowed.filter((item) => items.includes(item));
}

function parseCli(args) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        node: { type: 'string', default: process.execPath },
        seconds: { type: 'string', default: '4' },
        rounds: { type: 'string', default: '1' },
        options: { type: 'string', default: Object.keys(OPTION_NAMES).join(',') },
        handlers: { type: 'string', default: HANDLERS.join(',') },
        stuck: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError(error.message);
  }
  return {
    node: values.node,
    seconds: positiveInteger('seconds', values.seconds),
    rounds: positiveInteger('rounds', values.rounds),
    options: subset('options', values.options, Object.keys(OPTION_NAMES)),
    handlers: subset('handlers', values.handlers, HANDLERS),
    stuck: values.stuck,
    help: values.help,
  };
}

/** The requested options this node can run; says why B is left out when it is. */
function runnableOptions(requested, { version, reusePort }) {
  if (requested.includes('B') && !reusePort) {
    console.log(
      `Skipping B: Node ${version} cannot bind one port twice with listen({ reusePort: true }) (needs >= 22.12).`,
    );
  }
  return requested.filter((option) => option !== 'B' || reusePort);
}

function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function median(numbers) {
  const sorted = [...numbers].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const threadsLabel = (threads) => (threads === 0 ? '0 (main)' : String(threads));
const label = ({ option, threads, handler }) => `${option} ${threadsLabel(threads)} ${handler}`;
const formatCounts = (counts) => (counts ? counts.map((n) => n ?? '?').join(' / ') : '?');

/** Every option × thread count × handler; M has no threads. */
function matrix(options, handlers) {
  return options.flatMap((option) =>
    (option === 'M' ? [0] : THREAD_COUNTS).flatMap((threads) =>
      handlers.map((handler) => ({ option, threads, handler })),
    ),
  );
}

/** One wrk run against a fresh server; the server's per-thread counts come from its shutdown. */
async function measure(node, config, seconds) {
  const port = await freePort();
  const server = await startServer({ node, port, ...config });
  try {
    const load = await runWrk(port, seconds);
    return { ...load, counts: await server.stop() };
  } finally {
    await server.stop(); // a no-op after the stop above; the cleanup when wrk failed
  }
}

function printBench(version, configs, results, options) {
  const rows = configs.map((config) => {
    const runs = results.get(config);
    const rps = Math.round(median(runs.map((run) => run.rps)));
    const each = runs.length > 1 ? ` (${runs.map((run) => Math.round(run.rps)).join(', ')})` : '';
    const counts = runs.map((run) => formatCounts(run.counts)).join('; ');
    return [
      version,
      OPTION_NAMES[config.option],
      threadsLabel(config.threads),
      config.handler,
      `${rps}${each}`,
      counts,
    ];
  });
  console.log(`\n${markdownTable(['node', 'option', 'threads', 'handler', 'req/s', 'per-thread counts'], rows)}`);

  const cpuRps = (option, threads) => {
    const config = configs.find((c) => c.option === option && c.threads === threads && c.handler === 'cpu');
    return config && median(results.get(config).map((run) => run.rps));
  };
  const ratios = options
    .filter((option) => cpuRps(option, 1) && cpuRps(option, 2))
    .map((option) => `${option} ${(cpuRps(option, 2) / cpuRps(option, 1)).toFixed(2)}`);
  if (ratios.length > 0) console.log(`\ncpu req/s, 2 threads / 1 thread (${version}): ${ratios.join(', ')}`);

  const errors = configs.flatMap((config) =>
    results.get(config).flatMap((run, i) => run.errors.map((error) => `${label(config)}, round ${i + 1}: ${error}`)),
  );
  if (errors.length > 0) console.log(`\nwrk reported errors:\n${errors.join('\n')}`);
}

async function bench({ node, seconds, rounds, options, handlers }, version) {
  const configs = matrix(options, handlers);
  const results = new Map(configs.map((config) => [config, []]));
  console.error(`${version}: wrk -t2 -c32 -d${seconds}s, ${configs.length} configs, ${rounds} round(s)`);
  for (let round = 1; round <= rounds; round++) {
    // Even rounds go backwards, so a drift of the machine's speed hits every config alike.
    const order = round % 2 ? configs : [...configs].reverse();
    for (const config of order) {
      const result = await measure(node, config, seconds);
      results.get(config).push(result);
      console.error(
        `round ${round}, ${label(config)}: ${Math.round(result.rps)} req/s, ${formatCounts(result.counts)}`,
      );
    }
  }
  printBench(version, configs, results, options);
}

async function stuck({ node, options }, version) {
  const threaded = options.filter((option) => option !== 'M');
  console.error(`${version}: 2 threads, thread 0 spins; new connections one at a time, 1 s timeout each`);
  const rows = (await runStuck(node, threaded)).map((result) => [
    version,
    OPTION_NAMES[result.option],
    `${result.whileStuck.answered} / ${result.whileStuck.sent}`,
    `${result.terminateMs} ms`,
    `${result.afterTerminate.answered} / ${result.afterTerminate.sent}`,
  ]);
  const header = ['node', 'option', 'answered while thread 0 spins', 'terminate() took', 'answered after terminate'];
  console.log(`\n${markdownTable(header, rows)}`);
}

async function interrupt(signal) {
  interrupted = true;
  console.error(`\n${signal}: stopping every process this run started`);
  await stopAll();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

async function main() {
  const cli = parseCli(process.argv.slice(2));
  if (cli.help) {
    console.log(USAGE);
    return;
  }
  if (!cli.stuck && !onPath('wrk')) {
    console.error('install wrk: apt-get install -y wrk');
    process.exitCode = 1;
    return;
  }
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const info = await nodeInfo(cli.node);
  const options = runnableOptions(cli.options, info);
  if (options.length === 0) throw new Error('none of the requested options can run on this node');
  await (cli.stuck ? stuck : bench)({ ...cli, options }, info.version);
}

main().catch(async (error) => {
  if (interrupted) return;
  console.error(error instanceof UsageError ? `${error.message}\n${USAGE}` : `thread-handoff: ${error.message}`);
  await stopAll();
  process.exitCode = error instanceof UsageError ? 2 : 1;
});
