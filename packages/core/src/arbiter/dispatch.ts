import { LogThrottle } from '../observability/logger.js';
import type { ArbiterContext } from './context.js';
import type { ClientHandle } from './listeners.js';
import { StickyDispatch } from './sticky.js';
import { MAX_ACCEPT_COUNT } from './worker-messages.js';
import type { WorkerRecord } from './worker-record.js';

/**
 * Arbiter-side dispatch: for worker classes with `accept = 'arbiter'` the arbiter accepts and
 * queues connections (up to --backlog) and hands each to a worker that asked for one (credits,
 * `kelpie:accept`), the longest idle first; under --sticky it passes them to StickyDispatch
 * (sticky.ts), which sends each client to the same worker. Other classes accept on their own and
 * none of this runs.
 */

/** A connection the arbiter accepted and has not handed to a worker yet. */
interface QueuedConnection {
  client: ClientHandle;
  listener: number;
}

export class ArbiterDispatch {
  readonly #ctx: ArbiterContext;
  /** Accepted connections waiting for a worker, oldest first. */
  readonly #queue: QueuedConnection[] = [];
  /** Workers with credits, the longest waiting first. */
  #idle: WorkerRecord[] = [];
  /** Connections closed because --backlog was full: reported at most once a second. */
  readonly #backlogDrops = new LogThrottle(1000);
  /** --sticky: connections from accept to their client's worker (sticky.ts). */
  readonly #sticky: StickyDispatch<WorkerRecord>;

  constructor(ctx: ArbiterContext) {
    this.#ctx = ctx;
    this.#sticky = new StickyDispatch<WorkerRecord>({
      log: ctx.log,
      workers: () => ctx.workers.values(),
      settings: () => ctx.settings,
      listener: (index) => {
        const listener = ctx.listeners[index];
        return listener && { url: listener.url, tcp: listener.address.kind === 'tcp' };
      },
      running: () => ctx.running,
    });
  }

  /** The worker class asks the arbiter to accept for it (`accept = 'arbiter'`). */
  get #dispatching(): boolean {
    return this.#ctx.options.worker.workerClass.accept === 'arbiter';
  }

  /** --sticky with a class that accepts on its own otherwise (checkSticky refuses the others at start). */
  get sticky(): boolean {
    return this.#ctx.settings.sticky && !this.#dispatching;
  }

  /** The arbiter accepts the connections (and the workers do not). */
  get accepting(): boolean {
    return this.#dispatching || this.sticky;
  }

  /** Accept on every listener, when the arbiter is the one that accepts. */
  start(): void {
    if (!this.accepting) return;
    const log = this.#ctx.log;
    this.#ctx.listeners.forEach((listener, index) => {
      listener.accept(
        (client) => this.#onConnection(client, index),
        (code) => log.warning(`Error accepting a connection on ${listener.url}: ${code}`),
      );
    });
    log.debug(
      this.sticky
        ? '--sticky: the arbiter accepts connections and sends each client to the same worker'
        : 'The arbiter accepts connections and hands them to idle workers',
    );
  }

  /** `kelpie:accept`: a worker asks for `count` more connections. */
  credits(worker: WorkerRecord, count: number): void {
    if (!this.#dispatching || worker.retiring || !(count > 0)) return;
    if (worker.credits === 0) this.#idle.push(worker);
    worker.credits = Math.min(worker.credits + count, MAX_ACCEPT_COUNT);
    this.#dispatch();
  }

  /** A worker became ready: under --sticky, the connections that waited for one go now. */
  workerReady(): void {
    if (this.sticky) this.#sticky.dispatchWaiting();
  }

  /** Stopping: close the connections no worker has taken yet (logged when there are some). */
  close(): void {
    const waiting = this.#queue.length + this.#sticky.close();
    if (waiting > 0) this.#ctx.log.info(`Closing ${waiting} connection(s) no worker had taken yet`);
    for (const { client } of this.#queue.splice(0)) client.close();
  }

  #onConnection(client: ClientHandle, listener: number): void {
    const { settings, log } = this.#ctx;
    if (!this.#ctx.running) {
      client.close();
      return;
    }
    if (this.#queue.length + this.#sticky.pending >= settings.backlog) {
      client.close();
      const skipped = this.#backlogDrops.take();
      if (skipped !== undefined) {
        log.warning(
          `Every worker is busy and ${settings.backlog} connections (--backlog) are waiting: closed ${skipped + 1} new connection(s)`,
        );
      }
      return;
    }
    if (this.sticky) {
      this.#sticky.accept(client, listener);
      return;
    }
    this.#queue.push({ client, listener });
    this.#dispatch();
  }

  /** Hand queued connections to workers that asked for them, the longest idle first. */
  #dispatch(): void {
    while (this.#queue.length > 0) {
      const worker = this.#nextIdle();
      if (!worker) return;
      const connection = this.#queue.shift() as QueuedConnection;
      worker.credits--;
      if (worker.credits > 0) this.#idle.push(worker);
      const message = { type: 'kelpie:connection', listener: connection.listener };
      worker.child.send(message, connection.client as never, (error) => {
        if (!error) {
          // The worker has its own descriptor now.
          connection.client.close();
          return;
        }
        // The worker is gone: the next idle one takes the connection, unless the arbiter is
        // stopping (its queue was already closed).
        if (!this.#ctx.running) {
          connection.client.close();
          return;
        }
        this.#queue.unshift(connection);
        this.#dispatch();
      });
    }
  }

  #nextIdle(): WorkerRecord | undefined {
    while (this.#idle.length > 0) {
      const worker = this.#idle.shift() as WorkerRecord;
      if (worker.credits > 0 && !worker.retiring && this.#ctx.workers.get(worker.pid) === worker) return worker;
    }
    return undefined;
  }
}
