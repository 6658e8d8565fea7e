/**
 * What a start loads, beside what it must: semver only for a worker class or adapter whose
 * `meta.core` is not a plain caret range. A preloaded probe (fixtures/startup) reports each
 * process's CommonJS modules at exit; the express app goes through the Express adapter's check.
 */
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

/** Each process's probe line once kelpie has served `app` and stopped: pid → semver loaded. */
async function semverLoaded(app: string, path = '/'): Promise<boolean[]> {
  const kp = await startKelpie(['-w', '2', fixture(app)], {
    nodeArgs: ['--require', fixture('startup/semver-probe.cjs')],
  });
  expect((await get(new URL(path, kp.url).href)).status).toBe(200);
  await kp.stop();
  const lines = [...kp.log().matchAll(/^semver-probe pid=(\d+) loaded=(true|false)$/gm)];
  expect(lines, kp.log()).toHaveLength(3);
  return lines.map((line) => line[2] === 'true');
}

describe('a start of kelpie', () => {
  it("loads no semver in the arbiter or the workers for kelpie's own worker class and adapter", async () => {
    expect(await semverLoaded('pid-app.js')).toEqual([false, false, false]);
    expect(await semverLoaded('express-adapter-app.js', '/json')).toEqual([false, false, false]);
  });
});
