import { HttpServers, KelpieError, type Logger, type Settings, Worker, type WorkerMeta } from '@kelpie/core';
import pkg from '../package.json' with { type: 'json' };

/** Requests slower than this many milliseconds get a warning line (environment, default 500). */
function slowLimit(): number {
  return Number(process.env.YOURNAME_SLOW_MS ?? 500);
}

/**
 * `-k yourname`: the event-loop worker (one process serves many connections at once), plus a
 * warning line for every request slower than YOURNAME_SLOW_MS. Replace the timing with what
 * your class is for; keep the four methods and their promises (SPEC.md, section 2).
 */
export class YournameWorker extends Worker {
  // `name` is what users pass to -k; `core` is the @kelpie/core range this class is written
  // for: kelpie refuses to start a class whose range excludes the core it runs.
  static override meta: WorkerMeta = {
    name: 'yourname',
    version: pkg.version,
    core: '^0.1.0',
    description: 'The event-loop worker, plus a warning for every slow request',
  };

  // Runs in the arbiter before anything is bound: refuse what this class cannot honour.
  static checkConfig(_settings: Settings, log: Logger): void {
    const limit = slowLimit();
    if (!Number.isFinite(limit) || limit <= 0) {
      throw new KelpieError(
        'KELPIE_ERR_INVALID_SETTING',
        `Invalid value for YOURNAME_SLOW_MS: "${process.env.YOURNAME_SLOW_MS}". Allowed: a positive number of milliseconds.`,
      );
    }
    log.debug(`yourname: warning about requests slower than ${limit} ms`);
  }

  #http: HttpServers | undefined;

  async serve(): Promise<void> {
    const limit = slowLimit();
    const app = this.app.listener; // every app shape, as a Node request listener
    this.#http = new HttpServers({
      settings: this.settings,
      log: this.log,
      listener: (req, res) => {
        const started = performance.now();
        res.once('finish', () => {
          const ms = performance.now() - started;
          if (ms > limit) this.log.warning(`Slow request: ${req.method} ${req.url} took ${Math.round(ms)} ms`);
        });
        return app(req, res);
      },
      listeners: this.listeners,
      // Counting requests is what makes --max-requests work for this class.
      onRequest: () => this.countRequest(),
      // No WebSocket support here: an app with WebSocket handlers gets 426 and a hint.
      refuseWebSockets: { workerClass: 'yourname', app: this.app },
    });
    await this.#http.listen();
  }

  async drain(): Promise<void> {
    await this.#http?.drain();
  }

  override close(): void {
    this.#http?.close();
  }
}
