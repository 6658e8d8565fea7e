// Node's compile cache (Node >= 22.1): the arbiter and every worker load their code through it,
// in Node's default folder unless NODE_COMPILE_CACHE names one, and NODE_DISABLE_COMPILE_CACHE=1
// turns it off. Node 20 has no cache: these tests are skipped there.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

const hasCache = typeof (module as { enableCompileCache?: unknown }).enableCompileCache === 'function';
const dirs: string[] = [];

afterEach(async () => {
  await stopAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A kelpie with one worker whose temporary folder (Node's default cache folder is in it) is fresh. */
async function start(env: Record<string, string | undefined>) {
  const dir = mkdtempSync(join(tmpdir(), 'kelpie-compile-cache-'));
  dirs.push(dir);
  const kp = await startKelpie(['-w', '1', fixture('pid-app.js')], {
    env: {
      TMPDIR: dir,
      NODE_COMPILE_CACHE: undefined,
      NODE_DISABLE_COMPILE_CACHE: undefined,
      // Node's own trace of the cache, on stderr: the worker's lands in kelpie's log.
      NODE_DEBUG_NATIVE: 'COMPILE_CACHE',
      ...env,
    },
  });
  return { kp, cacheDir: join(dir, 'node-compile-cache') };
}

/** The compile cache's trace lines about the app, which only workers load. */
const appLines = (log: string) =>
  log.split('\n').filter((line) => /compile cache/.test(line) && /pid-app\.js/.test(line));

describe.skipIf(!hasCache)("Node's compile cache", () => {
  it('is on in the arbiter and the workers, in the temporary folder by default', async () => {
    const { kp, cacheDir } = await start({});
    await kp.stop();
    expect(appLines(kp.log()).length).toBeGreaterThan(0);
    expect(readdirSync(cacheDir).length).toBeGreaterThan(0);
  });

  it('uses the folder NODE_COMPILE_CACHE names', async () => {
    const named = mkdtempSync(join(tmpdir(), 'kelpie-compile-cache-named-'));
    dirs.push(named);
    const { kp, cacheDir } = await start({ NODE_COMPILE_CACHE: named });
    await kp.stop();
    expect(appLines(kp.log()).length).toBeGreaterThan(0);
    expect(readdirSync(named).length).toBeGreaterThan(0);
    expect(existsSync(cacheDir)).toBe(false);
  });

  it('is off with NODE_DISABLE_COMPILE_CACHE=1', async () => {
    const { kp, cacheDir } = await start({ NODE_DISABLE_COMPILE_CACHE: '1' });
    await kp.stop();
    expect(appLines(kp.log())).toEqual([]);
    expect(existsSync(cacheDir)).toBe(false);
  });
});
