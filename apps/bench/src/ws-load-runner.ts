import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { LoadOptions, LoadResult } from './wrk.js';

const run = promisify(execFile);

/** The load generator's own script, next to this module's bundle. */
const script = fileURLToPath(new URL('./ws-load.js', import.meta.url));

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
