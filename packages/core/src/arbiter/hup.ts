import { dirname, resolve } from 'node:path';
import { resolveAppFile } from '../app/loader.js';
import { runHook } from '../config/hooks.js';
import { RESTART_ONLY_SETTINGS, type Settings } from '../config/settings.js';
import type { ArbiterContext, Reconfiguration } from './context.js';
import type { WorkerPool } from './pool.js';
import { watchForChanges } from './reloader.js';

/**
 * HUP: read the configuration again (ArbiterOptions.reconfigure), take the settings that can
 * change while running (the others warn and keep their value), go back to --workers, run the
 * onReload hook and start a new generation of workers. Also --reload, which watches the app's
 * files (reloader.ts) and reloads as HUP does.
 */
export class HupReload {
  readonly #ctx: ArbiterContext;
  readonly #pool: WorkerPool;
  #stopWatching: (() => void) | undefined;

  constructor(ctx: ArbiterContext, pool: WorkerPool) {
    this.#ctx = ctx;
    this.#pool = pool;
  }

  /** HUP: start a new generation of workers with freshly loaded app code; retire the old ones as the new ones get ready. */
  reload(): void {
    if (!this.#ctx.running) return;
    this.#ctx.log.info('Hang up: Master');
    void this.#reload();
  }

  async #reload(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx.options.reconfigure) {
      let next: Reconfiguration;
      try {
        next = await ctx.options.reconfigure();
      } catch (error) {
        ctx.log.error(
          `Reload failed, keeping the running configuration and workers: ${error instanceof Error ? error.message : String(error)}`,
        );
        return;
      }
      if (!ctx.running) return;
      this.#apply(next);
    }
    // As in Gunicorn, HUP goes back to --workers: TTIN/TTOU changes, a failed reload's smaller
    // generation and WINCH's zero (the rollback of a binary upgrade) last until the next HUP.
    if (ctx.numWorkers !== ctx.settings.workers) ctx.changeWorkerCount(ctx.settings.workers);
    await runHook(ctx.hooks, 'onReload', ctx.log, ctx.view());
    if (!ctx.running) return;
    this.#pool.newGeneration();
  }

  /** The configuration read again takes effect (what the workers spawned from now on get). */
  #apply(next: Reconfiguration): void {
    const ctx = this.#ctx;
    const watched = () => JSON.stringify([ctx.settings.reload, ctx.settings.reloadExtraFile, ctx.configFile]);
    const watchedBefore = watched();
    this.#applySettings(next.settings);
    ctx.hooks = next.hooks;
    ctx.configFile = next.configFile;
    ctx.tls = next.tls;
    if (watched() !== watchedBefore) {
      this.stopWatching();
      if (ctx.settings.reload) this.watch();
    }
  }

  /** Settings read again on HUP: take what can change while running, say what cannot. */
  #applySettings(next: Settings): void {
    const ctx = this.#ctx;
    const before = ctx.settings;
    const fixed = RESTART_ONLY_SETTINGS.filter((name) => JSON.stringify(before[name]) !== JSON.stringify(next[name]));
    for (const name of fixed) {
      ctx.log.warning(`Reload: a new value of ${name} takes effect on restart (or USR2), not on HUP`);
      (next as Record<string, unknown>)[name] = before[name];
    }
    ctx.settings = next;
    this.#pool.restartChecks(next.timeout !== before.timeout, next.maxWorkerMemory > 0 !== before.maxWorkerMemory > 0);
  }

  /** --reload: a change in the app's directory, an extra file or the config file reloads as HUP does. */
  watch(): void {
    const ctx = this.#ctx;
    const { chdir, reloadExtraFile } = ctx.settings;
    let appDir = chdir;
    try {
      appDir = dirname(resolveAppFile(ctx.options.appModule, chdir));
    } catch {
      // The workers will say why the app cannot be found; watch the project folder meanwhile.
    }
    const files = [...reloadExtraFile.map((f) => resolve(chdir, f)), ...(ctx.configFile ? [ctx.configFile] : [])];
    this.#stopWatching = watchForChanges(
      [appDir],
      files,
      (file) => {
        ctx.log.info(`Worker reloading: ${file} modified`);
        this.reload();
      },
      ctx.log,
    );
  }

  stopWatching(): void {
    this.#stopWatching?.();
    this.#stopWatching = undefined;
  }
}
