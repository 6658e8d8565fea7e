import { EventEmitter } from 'node:events';
import { KELPIE_SIGNALS } from '../signals.js';

/**
 * The app's own signal listeners (SPEC.md 2.6). Frameworks install SIGTERM and SIGINT listeners
 * that close their server and exit (Next.js, Nitro, SvelteKit, NestJS's enableShutdownHooks).
 * In a worker, signals belong to kelpie: a listener the app adds for one of them is kept here
 * instead of on `process`, and runs once, when kelpie says (after the drain of a graceful stop).
 * Everything else about `process` events is untouched.
 */

/** The signals kelpie's worker handles itself: every signal of the table (signals.ts). */
const ROUTED = new Set<string | symbol>(KELPIE_SIGNALS);

type Method = (this: NodeJS.Process, event: string | symbol, ...rest: unknown[]) => unknown;

const METHODS = [
  'on',
  'addListener',
  'once',
  'prependListener',
  'prependOnceListener',
  'off',
  'removeListener',
  'listeners',
  'rawListeners',
  'listenerCount',
] as const;

export interface AppSignals {
  /** Whether the app listens for `signal`. */
  has(signal: NodeJS.Signals): boolean;
  /**
   * Stop keeping new listeners apart (the arbiter, after `--preload` loaded the app there): the
   * ones kept so far stay kept, and never run.
   */
  restore(): void;
  /**
   * Run the app's listeners for a graceful stop, once: its SIGTERM listeners, or its SIGINT ones
   * when it has none for SIGTERM (apps written for Ctrl-C). False when it has neither, or they ran.
   */
  runShutdown(): boolean;
}

let installed: AppSignals | undefined;

/**
 * Keep the app's listeners for kelpie's signals apart from kelpie's own, from now on (call it
 * after kelpie has installed its own listeners and before the app loads). Once per process.
 */
export function routeAppSignals(): AppSignals {
  if (installed) return installed;
  const app = new EventEmitter();
  app.setMaxListeners(0);
  const target = process as unknown as Record<string, Method>;
  const originals = new Map<string, Method>();
  for (const name of METHODS) {
    const original = target[name] as Method;
    originals.set(name, original);
    const routed: Method = function (this: NodeJS.Process, event, ...rest) {
      if (!ROUTED.has(event)) return original.call(this, event, ...rest);
      const result = (app as unknown as Record<string, Method>)[name]?.call(app as never, event, ...rest);
      // Chainable methods return process, as Node's do; the others their own result.
      return result === app ? this : result;
    };
    target[name] = routed;
  }
  const removeAll = process.removeAllListeners;
  process.removeAllListeners = function (this: NodeJS.Process, event?: string | symbol) {
    if (event === undefined) {
      app.removeAllListeners();
      // kelpie's own signal listeners stay.
      for (const name of this.eventNames()) if (!ROUTED.has(name)) removeAll.call(this, name);
      return this;
    }
    if (ROUTED.has(event)) {
      app.removeAllListeners(event);
      return this;
    }
    return removeAll.call(this, event);
  } as typeof process.removeAllListeners;
  let ran = false;
  installed = {
    has: (signal) => app.listenerCount(signal) > 0,
    restore() {
      for (const [name, original] of originals) target[name] = original;
      process.removeAllListeners = removeAll;
      installed = undefined;
    },
    runShutdown() {
      if (ran) return false;
      const signal =
        app.listenerCount('SIGTERM') > 0 ? 'SIGTERM' : app.listenerCount('SIGINT') > 0 ? 'SIGINT' : undefined;
      if (!signal) return false;
      ran = true;
      // Node passes the signal's name to its listeners (NestJS re-raises it).
      app.emit(signal, signal);
      return true;
    },
  };
  return installed;
}
