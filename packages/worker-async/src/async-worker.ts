import type { Socket } from 'node:net';
import {
  HttpServers,
  type InheritedListener,
  type Logger,
  type ReadAhead,
  type Settings,
  Worker,
  type WorkerMeta,
} from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

/**
 * The event-loop worker (`-k async`, the default): one process serves many connections at
 * once, up to --worker-connections, with keep-alive. Node's event loop is the concurrency;
 * the HTTP handling itself is core's, shared with every other worker class.
 */
export class AsyncWorker extends Worker {
  static override meta: WorkerMeta = {
    name: 'async',
    version: pkg.version,
    core: '^0.1.0',
    description: 'Event-loop worker: many concurrent connections per process',
  };

  static checkConfig(settings: Settings, log: Logger): void {
    if (settings.threads > 1) {
      log.warning(
        `--threads ${settings.threads} has no effect on -k async (one event loop per process); see -k threads`,
      );
    }
  }

  /** --sticky: the arbiter accepts and sends each client's connections here (connection()). */
  static override sticky = true;

  #http: HttpServers | undefined;

  async serve(): Promise<void> {
    this.#http = new HttpServers({
      settings: this.settings,
      log: this.log,
      listener: this.app.listener,
      listeners: this.listeners,
      refuseWebSockets: { workerClass: 'async', app: this.app },
      onRequest: () => {
        this.countRequest();
      },
      // At --worker-connections, stop accepting rather than accept and close.
      accept: { duplicateListener: (index) => this.channel.duplicateListener(index) },
    });
    await this.#http.listen();
  }

  /** --sticky: a connection the arbiter chose this worker for. */
  override connection(socket: Socket, listener: InheritedListener, read?: ReadAhead): void {
    if (!this.#http) socket.destroy();
    else this.#http.take(socket, this.listeners.indexOf(listener), read);
  }

  async drain(): Promise<void> {
    await this.#http?.drain();
  }

  override close(): void {
    this.#http?.close();
  }
}
