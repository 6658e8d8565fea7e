import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LoadOptions, LoadResult } from './wrk.js';

const run = promisify(execFile);

/** The load generator's own script, next to this module's bundle. */
const script = fileURLToPath(new URL('./ws-load.js', import.meta.url));

/**
 * Hold `count` idle WebSocket connections open while `sample` runs (memory per connection);
 * the holder process exits when its stdin closes.
 */
export async function holdWsConnections<T>(httpUrl: string, count: number, sample: () => T): Promise<T> {
  const holder = spawn(process.execPath, [script, 'hold', httpUrl.replace(/^http/, 'ws'), String(count)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      holder.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('held ')) resolve();
      });
      holder.once('exit', (code) => reject(new Error(`ws-load hold exited (${code}) before holding ${count} sockets`)));
    });
    return sample();
  } finally {
    holder.stdin.end();
    await new Promise<void>((resolve) => {
      if (holder.exitCode !== null) return resolve();
      holder.once('exit', () => resolve());
    });
  }
}

/** One bounded WebSocket echo run (src/ws-load.ts) in its own process; messages/s as `rps`. */
export async function runWsLoad(options: LoadOptions): Promise<LoadResult> {
  const url = options.url.replace(/^http/, 'ws');
  const { stdout } = await run(
    process.execPath,
    [script, url, String(options.connections), String(options.seconds), String(options.bodyBytes ?? 64)],
    { timeout: (options.seconds + 60) * 1000 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as LoadResult;
}
