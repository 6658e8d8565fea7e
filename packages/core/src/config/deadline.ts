import { seconds } from './parsers.js';
import type { Env } from './setting-def.js';

/**
 * The deadline on config-file code kelpie waits for: loading the file (a top-level await, a
 * default export that is a promise) and the hooks it awaits (onStarting, onReload, preExec,
 * onExit, postWorkerInit). Code that never settles must not hang kelpie without a word.
 *
 * Not a setting: the config file cannot set the deadline of its own loading, so it comes from the
 * environment, as KELPIE_CMD_ARGS does.
 */

export const CONFIG_TIMEOUT_VARIABLE = 'KELPIE_CONFIG_TIMEOUT';

/** Seconds kelpie waits for config-file code by default: a message before systemd's 90 s start timeout kills it silently. */
export const DEFAULT_CONFIG_TIMEOUT_SECONDS = 60;

/** The deadline in ms (0: none) from KELPIE_CONFIG_TIMEOUT; a bad value throws, naming the variable and what it allows. */
export function configTimeoutMs(env: Env = process.env): number {
  const raw = env[CONFIG_TIMEOUT_VARIABLE];
  if (raw === undefined || raw.trim() === '') return DEFAULT_CONFIG_TIMEOUT_SECONDS * 1000;
  return Math.round(seconds(raw, CONFIG_TIMEOUT_VARIABLE) * 1000);
}

/** Why a wait ended without a result: the deadline passed, or nothing was left that could settle it. */
export type Expiry = { kind: 'deadline'; seconds: number } | { kind: 'idle' };

/** How an expiry reads in messages, after "is": the state of the work, then what to do about it. */
export function expiryText(expiry: Expiry): string {
  return expiry.kind === 'deadline'
    ? `still pending after ${expiry.seconds} s. Make it settle, or raise ${CONFIG_TIMEOUT_VARIABLE} (seconds; 0 for no deadline).`
    : 'pending, and nothing is left running that could settle it. Make it settle.';
}

/** Waits to end when the event loop runs dry; one 'beforeExit' listener serves them all. */
const idleWaits = new Set<() => void>();

function onBeforeExit(): void {
  for (const idle of [...idleWaits]) idle();
}

/**
 * Resolve with `work`'s result, or reject with `expired(...)` once `ms` pass (0: no deadline) or
 * once the event loop has nothing left to do (Node would otherwise exit with status 13 and no word
 * about the cause). The timer does not keep the process alive by itself.
 */
export function settleWithin<T>(work: T | PromiseLike<T>, ms: number, expired: (expiry: Expiry) => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(timer);
      idleWaits.delete(idle);
      if (idleWaits.size === 0) process.off('beforeExit', onBeforeExit);
    };
    const idle = () => {
      finish();
      reject(expired({ kind: 'idle' }));
    };
    if (ms > 0) {
      timer = setTimeout(() => {
        finish();
        reject(expired({ kind: 'deadline', seconds: ms / 1000 }));
      }, ms);
      timer.unref();
    }
    if (idleWaits.size === 0) process.on('beforeExit', onBeforeExit);
    idleWaits.add(idle);
    Promise.resolve(work).then(
      (value) => {
        finish();
        resolve(value);
      },
      (error: unknown) => {
        finish();
        reject(error);
      },
    );
  });
}
