import { ServerResponse } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import {
  type App,
  drainThenShutdown,
  errorLogSink,
  flushAccessLogsSync,
  HttpServers,
  isKelpieError,
  Logger,
  loadHooks,
  loadServingFeatures,
  RequestCount,
  type RequestListener,
  reopenLogs,
  startApp,
  startHeartbeat,
  useRequestStatsBuffer,
} from '@kelpie/core';
import { AcceptPolicy } from './accept-policy.js';
import { BEAT, FLUSHED, type FromThread, SLOTS, slotIndex, type ThreadData, type ToThread } from './protocol.js';

/**
 * An app thread: loads its own copy of the app, accepts on its own descriptors of the listening
 * sockets, and serves with core's HTTP layer, exactly as an async worker process would. It uses
 * the worker runtime's pieces from core: the heartbeat, hook loading, the graceful stop's order,
 * log reopening, and the process's one request count (in shared memory).
 */

const data = workerData as ThreadData;
const port = parentPort;
if (!port) throw new Error('the threads worker entry runs in a worker thread');
const log = new Logger(data.settings.logLevel, errorLogSink(data.settings.errorLogfile), data.settings.logFormat);
const state = new Int32Array(data.state);
// HttpServers counts this thread's requests into memory the main thread reads.
useRequestStatsBuffer(data.stats);
const post = (message: FromThread) => port.postMessage(message);
// The process's count, shared by its threads: the request that reaches the share tells the main thread.
const requests = new RequestCount(data.maxRequests, () => post({ type: 'max-requests' }), data.requests);

startHeartbeat(data.settings.timeout, () => Atomics.add(state, BEAT, 1));

const policy = new AcceptPolicy(data.board, data.index - 1);

/** In-flight slots: a slot holds the socket's fd + 1 until the response's headers go out. */
const free: number[] = Array.from({ length: SLOTS }, (_, i) => SLOTS - 1 - i);
const SLOT = Symbol('kelpie.slot');
type Tracked = ServerResponse & { [SLOT]?: number };

function release(this: Tracked): void {
  const slot = this[SLOT];
  if (slot === undefined) return;
  Atomics.store(state, slotIndex(slot), 0);
  free.push(slot);
  this[SLOT] = undefined;
}

/** Marks the slot as answered the moment headers are written, so a 503 never follows them. */
class TrackedResponse extends ServerResponse {}
const writeHead = ServerResponse.prototype.writeHead;
TrackedResponse.prototype.writeHead = function (this: Tracked, ...args: Parameters<typeof writeHead>) {
  const slot = this[SLOT];
  if (slot !== undefined) Atomics.store(state, slotIndex(slot), 0);
  return writeHead.apply(this, args);
} as typeof writeHead;
/** The request's work is done as the app ends it, before its last bytes leave (accept-policy.ts). */
const end = ServerResponse.prototype.end;
TrackedResponse.prototype.end = function (this: Tracked, ...args: Parameters<typeof end>) {
  policy.ending(this);
  return end.apply(this, args);
} as typeof end;

let app: App | undefined;
let http: HttpServers | undefined;

/** Descriptors asked of the main thread (which asks the arbiter), by request id. */
const asked = new Map<number, (fd: number) => void>();
let nextAsk = 0;
function duplicateListener(listener: number): Promise<number> {
  return new Promise((resolve) => {
    const id = nextAsk++;
    asked.set(id, resolve);
    post({ type: 'dup', id, listener });
  });
}

async function load(): Promise<void> {
  // The access log, StatsD and PROXY protocol modules the settings turn on, as a worker process
  // loads them at boot: this thread's HttpServers serves with them from its first connection.
  await loadServingFeatures(data.settings);
  // The config file's request hooks run where requests are handled: in this thread.
  const hooks = data.hooksFile ? await loadHooks(data.hooksFile, log, 'thread') : undefined;
  app = await startApp(data.appModule, data.cwd, log, data.settings, data.searchFrom, {
    ...(hooks && {
      requestHooks: {
        hooks,
        view: () => ({ pid: process.pid, age: 0, settings: data.settings, log, requests: requests.value }),
      },
    }),
    urls: data.urls,
  });
}

function listen(listeners: Extract<ToThread, { type: 'listen' }>['listeners']): Promise<void> {
  const listener = (app as App).listener;
  const handler: RequestListener = (req, res) => {
    // Under TLS the descriptor carries encrypted records: no plain 503 can be written on it.
    const fd = (req.socket as unknown as { encrypted?: boolean }).encrypted
      ? undefined
      : (req.socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const slot = fd !== undefined && fd >= 0 ? free.pop() : undefined;
    if (slot !== undefined) {
      (res as Tracked)[SLOT] = slot;
      Atomics.store(state, slotIndex(slot), (fd as number) + 1);
      res.once('close', release);
    }
    policy.onRequest(req, res);
    return listener(req, res);
  };
  http = new HttpServers({
    settings: data.settings,
    log,
    onRequest: () => requests.add(),
    listener: handler,
    listeners,
    refuseWebSockets: { workerClass: 'threads', app: app as App },
    serverOptions: { ServerResponse: TrackedResponse as unknown as typeof ServerResponse },
    accept: {
      duplicateListener,
      onAccept: policy.onAccept,
      onClose: policy.onClose,
      onChange: (on) => policy.accepting(on),
    },
  });
  return http.listen().then(() => policy.accepting(http?.gate.open ?? false));
}

port.on('message', (message: ToThread) => {
  if (message.type === 'listen') {
    listen(message.listeners).then(
      () => post({ type: 'listening' }),
      (error: Error) => post({ type: 'listen-error', message: error.message }),
    );
  } else if (message.type === 'fd') {
    asked.get(message.id)?.(message.fd);
    asked.delete(message.id);
  } else if (message.type === 'reopen') {
    reopenLogs(log);
  } else if (message.type === 'flush-logs') {
    // A quick stop: the main thread waits (briefly) for this before terminating the thread.
    flushAccessLogsSync();
    Atomics.store(state, FLUSHED, 1);
    Atomics.notify(state, FLUSHED);
  } else if (message.type === 'drain') {
    void (async () => {
      const steps = {
        drain: () => http?.drain(),
        unload: () => app?.shutdown?.(),
        // Upgrade requests are refused here (426); the drain does not wait for their sockets.
        drainUpgraded: () => http?.upgradedClosed(),
      };
      await drainThenShutdown(steps, log, `Error during graceful stop of thread ${data.index}`);
      post({ type: 'drained' });
      // Nothing more to do: let the thread end once the app holds nothing open.
      port.unref();
    })();
  }
});

load().then(
  () => {
    // Signals never reach a worker thread: an app's own shutdown listeners would wait in vain.
    const listening = (['SIGTERM', 'SIGINT'] as const).filter((signal) => process.listenerCount(signal) > 0);
    if (data.index === 1 && listening.length > 0) {
      log.warning(
        `The app listens for ${listening.join(' and ')}: signals never reach a worker thread, so under -k threads its own shutdown does not run (-k async runs it after the drain)`,
      );
    }
    post({ type: 'loaded' });
  },
  (error: unknown) => {
    const cause = isKelpieError(error) ? error.cause : error;
    post({
      type: 'load-error',
      code: isKelpieError(error) ? error.code : 'KELPIE_ERR_APP_IMPORT',
      message: error instanceof Error ? error.message : String(error),
      stack: cause instanceof Error ? cause.stack : cause === undefined ? undefined : String(cause),
    });
  },
);
