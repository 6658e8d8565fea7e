// The worker process: serves the listening socket it inherited from launcher.mjs at fd 3, 4, ...
// with THREADS worker_threads, the way OPTION says (A, B, C, or M for the main thread alone;
// see README.md). Usage (by launcher.mjs): node worker.mjs OPTION THREADS HANDLER PORT
// It talks to run.mjs over stdio: it prints READY once every thread serves, answers the
// commands `spin` (SPINNING) and `terminate` (TERMINATED <ms>), both about thread 0, and when
// stdin closes prints COUNTS [requests served per thread] and exits.
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import { createApp } from './app.mjs';
import { relaySocket } from './port-duplex.mjs';

const FIRST_FD = 3;
const REPLY_TIMEOUT_MS = 2_000;

const [option, threadArg, handler, portArg] = process.argv.slice(2);

/** Waits for a message of `type` from `worker`: its value (true if none), or null on timeout or exit. */
function reply(worker, type, ms) {
  return new Promise((resolve) => {
    function settle(value) {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      resolve(value);
    }
    function onMessage(message) {
      if (message.type === type) settle(message.value ?? true);
    }
    function onExit() {
      settle(null);
    }
    const timer = ms === undefined ? undefined : setTimeout(onExit, ms);
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

/** Posts `{ type }` to a live thread and waits for its reply. */
function ask(thread, type) {
  if (!thread.alive) return Promise.resolve(null);
  const answer = reply(thread.worker, type, REPLY_TIMEOUT_MS);
  thread.worker.postMessage({ type });
  return answer;
}

function startThread(id) {
  const worker = new Worker(new URL('thread.mjs', import.meta.url), {
    workerData: { option, fd: FIRST_FD + id, port: Number(portArg), handler, id },
  });
  const thread = { worker, alive: true, active: 0, ready: reply(worker, 'ready') };
  worker.on('error', (error) => {
    console.error(`thread ${id}: ${error.stack}`);
    process.exit(1);
  });
  worker.on('exit', () => {
    thread.alive = false;
  });
  return thread;
}

/** C: gives the connection to the live thread with the fewest open connections. */
function handOff(socket, threads) {
  const live = threads.filter((thread) => thread.alive);
  if (live.length === 0) {
    socket.destroy();
    return;
  }
  const thread = live.reduce((best, next) => (next.active < best.active ? next : best));
  thread.active++;
  socket.once('close', () => thread.active--);
  socket.setNoDelay(true);
  const { remoteAddress, remotePort, remoteFamily } = socket;
  const port = relaySocket(socket);
  thread.worker.postMessage({ type: 'conn', port, info: { remoteAddress, remotePort, remoteFamily } }, [port]);
}

function listenOnInherited(server) {
  return new Promise((resolve) => server.listen({ fd: FIRST_FD }, resolve));
}

/** Starts serving; resolves with a function that collects the per-thread request counts. */
async function serve(threads) {
  if (option === 'M') {
    const counter = { n: 0 };
    await listenOnInherited(http.createServer(createApp(handler, counter, 'main')));
    return async () => [counter.n];
  }
  const ready = threads.map((thread) => thread.ready);
  if (option === 'C') ready.push(listenOnInherited(net.createServer((socket) => handOff(socket, threads))));
  await Promise.all(ready);
  return () => Promise.all(threads.map((thread) => ask(thread, 'count')));
}

async function spinThread0(threads) {
  if ((await ask(threads[0], 'spin')) !== null) console.log('SPINNING');
}

async function terminateThread0(threads) {
  const start = performance.now();
  await threads[0].worker.terminate();
  console.log(`TERMINATED ${Math.round(performance.now() - start)}`);
}

async function stop(counts) {
  const line = `COUNTS ${JSON.stringify(await counts())}\n`;
  process.stdout.write(line, () => process.exit(0));
}

const threads = option === 'M' ? [] : Array.from({ length: Number(threadArg) }, (_, id) => startThread(id));
const counts = await serve(threads);
const commands = new Map([
  ['spin', () => spinThread0(threads)],
  ['terminate', () => terminateThread0(threads)],
]);
createInterface({ input: process.stdin })
  .on('line', (line) => commands.get(line)?.())
  .on('close', () => stop(counts));
console.log('READY');
