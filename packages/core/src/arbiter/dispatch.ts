import { LogThrottle } from '../observability/logger.js';
import type { ArbiterContext } from './context.js';
import type { ClientHandle } from './listeners.js';
import { StickyDispatch } from './sticky.js';
import { MAX_ACCEPT_COUNT } from './worker-messages.js';
import type { LentConnection, WorkerRecord } from './worker-record.js';

/**
 * Arbiter-side dispatch: for worker classes with `accept = 'arbiter'` the arbiter accepts and
 * queues connections (up to --backlog) and hands each to a worker that asked for one (credits,
 * `kelpie:accept`): the worker with the most credits left first (an idle one before one that
 * serves), the longest waiting among equals; under --sticky it passes them to StickyDispatch
 * (sticky.ts), which sends each client to the same worker. Other classes accept on their own and
 * none of this runs.
 *
 * Held connections: a worker that says it holds (`kelpie:accept`'s `hold`: -k sync asks for one
 * connection to serve and one to hold, `hold: 1`) is serving while it has `hold` credits or fewer
 * left, and a connection sent to it then is lent, to hold, only when no worker is idle. The
 * arbiter keeps its own descriptor of that connection until the worker's next `kelpie:accept`
 * (it has then started it); when a worker waits idle with nothing queued, the others are asked to
 * give theirs back (`kelpie:release`, `kelpie:returned`), so none waits behind a long request
 * while a worker is free. The release is sent after every connection lent before it, and the IPC
 * channel keeps their order, so it never passes one on its way (docs/sync-and-threads.md). A
 * worker that exits with some still lent: they are closed and logged.
 */

/** A worker that holds, with only the credits it holds with left: it serves a connection. */
const serving = (worker: WorkerRecord): boolean => worker.credits <= worker.hold;

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
  readonly #idle: WorkerRecord[] = [];
  /** Connections closed because --backlog was full: reported at most once a second. */
  readonly #backlogDrops = new LogThrottle(1000);
  /** --sticky: connections from accept to their client's worker (sticky.ts). */
  readonly #sticky: StickyDispatch<WorkerRecord>;
  /** Numbers the connections lent to workers to hold. */
  #lentIds = 0;

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
    if (!this.#dispatching || !(count > 0)) return;
    // Each connection it finished lets it start the oldest it held (or that is on its way to it).
    for (const lent of worker.lent.splice(0, count)) lent.client.close();
    if (worker.retiring) return;
    this.#addCredits(worker, count);
    this.#dispatch();
    if (this.#queue.length === 0 && !serving(worker)) this.#askToRelease(worker);
  }

  /** `kelpie:returned`: a worker gave back held connection `id` unread; another worker takes it. */
  returned(worker: WorkerRecord, id: number): void {
    const at = worker.lent.findIndex((lent) => lent.id === id);
    if (at === -1) return;
    const [lent] = worker.lent.splice(at, 1) as [LentConnection];
    if (!this.#ctx.running) {
      this.#ctx.log.info('Closing 1 connection(s) no worker had taken yet');
      lent.client.close();
      return;
    }
    this.#queue.unshift({ client: lent.client, listener: lent.listener });
    if (!worker.retiring) this.#addCredits(worker, 1);
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
      // Sent while it serves another: it holds this one, and this descriptor stays until it starts it.
      const lent = serving(worker) ? this.#lend(worker, connection) : undefined;
      worker.credits--;
      if (worker.credits > 0) this.#idle.push(worker);
      const message = { type: 'kelpie:connection', listener: connection.listener, held: lent?.id };
      worker.child.send(message, connection.client as never, (error) => {
        if (!error) {
          // The worker has its own descriptor now.
          if (!lent) connection.client.close();
          return;
        }
        if (lent) {
          const at = worker.lent.indexOf(lent);
          if (at === -1) return;
          worker.lent.splice(at, 1);
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

  /**
   * The worker with the most credits left (idle before serving), the longest waiting among
   * equals. A serving worker that a reload replaces is passed over: it is retired soon, and a
   * connection on its way to it then would be lost.
   */
  #nextIdle(): WorkerRecord | undefined {
    const workers = this.#ctx.workers;
    const idle = this.#idle;
    // In place: the workers without credits, or gone, leave the list as it is read.
    let kept = 0;
    let best: WorkerRecord | undefined;
    let bestAt = -1;
    for (let i = 0; i < idle.length; i++) {
      const worker = idle[i] as WorkerRecord;
      if (worker.credits <= 0 || worker.retiring || workers.get(worker.pid) !== worker) continue;
      idle[kept] = worker;
      if (!(worker.outdated && serving(worker)) && (!best || worker.credits > best.credits)) {
        best = worker;
        bestAt = kept;
      }
      kept++;
    }
    idle.length = kept;
    if (best) idle.splice(bestAt, 1);
    return best;
  }

  #addCredits(worker: WorkerRecord, count: number): void {
    if (worker.credits === 0) this.#idle.push(worker);
    worker.credits = Math.min(worker.credits + count, MAX_ACCEPT_COUNT);
  }

  #lend(worker: WorkerRecord, connection: QueuedConnection): LentConnection {
    const lent = { id: this.#lentIds++, ...connection };
    worker.lent.push(lent);
    worker.releaseAsked = false;
    return lent;
  }

  /** `worker` waits with nothing queued: the others give back what they hold unread. */
  #askToRelease(worker: WorkerRecord): void {
    for (const other of this.#ctx.workers.values()) {
      if (other === worker || other.lent.length === 0 || other.releaseAsked) continue;
      other.releaseAsked = true;
      other.child.send({ type: 'kelpie:release' }, undefined, {}, () => {});
    }
  }

  /** A worker exited (the pool's reap): what it was lent and never started is closed, and said so. */
  exited(worker: WorkerRecord): void {
    const lent = worker.lent.splice(0);
    if (lent.length === 0) return;
    // Stopping, the arbiter closes what it has queued in the same way.
    if (!this.#ctx.running) this.#ctx.log.info(`Closing ${lent.length} connection(s) no worker had taken yet`);
    else {
      this.#ctx.log.warning(
        `Worker (pid:${worker.pid}) exited holding ${lent.length} connection(s) it had not started: closed`,
      );
    }
    for (const { client } of lent) client.close();
  }
}
