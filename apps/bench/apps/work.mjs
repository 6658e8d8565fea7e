// The work behind each bench route, shared by the plain handler and the framework apps so every
// side does exactly the same thing per request; only routing and response plumbing differ.
// wsgi.py mirrors it for Gunicorn (same document file, same pbkdf2 parameters).
import { pbkdf2Sync } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const HELLO = 'Hello, World!\n';
export const SLOW_TEXT = 'ok\n';
export const SLOW_MS = 10;

/**
 * Parsed once at module load; each /json response serializes it again, as res.json, ctx.body and
 * c.json do, so the plain handler is not spared the work the frameworks pay for.
 */
export const DOCUMENT = JSON.parse(readFileSync(new URL('./document.json', import.meta.url), 'utf8'));

// The harness calibrates the iteration count so one digest takes about 5 ms on this machine.
const CPU_ITERATIONS = Number(process.env.BENCH_CPU_ITERATIONS ?? 20000);
if (!Number.isInteger(CPU_ITERATIONS) || CPU_ITERATIONS < 1) {
  throw new Error(`BENCH_CPU_ITERATIONS must be a positive integer, got ${process.env.BENCH_CPU_ITERATIONS}`);
}

/** Blocks the event loop for about 5 ms, like a request that does real CPU work. */
export function cpuDigest() {
  return pbkdf2Sync('kelpie', 'bench', CPU_ITERATIONS, 32, 'sha256').toString('hex');
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
