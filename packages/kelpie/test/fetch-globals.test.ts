/**
 * Node loads its fetch classes (undici: ~25 ms and ~10 MB per process) on the first read of a
 * fetch global. Core must not read one until it serves a fetch app: the arbiter and workers
 * serving a Node listener never load them. A preloaded probe (fixtures/fetch-globals) reports
 * each process's `process.moduleLoadList` at exit; the fetch app is the control that the probe
 * does see a load.
 */
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

const probe = fixture('fetch-globals/undici-probe.cjs');

/** Serves one request with `app`, stops, and returns each process's probe line: pid → loaded. */
async function undiciLoaded(app: string): Promise<{ arbiter: boolean; workers: boolean[] }> {
  const kp = await startKelpie(['-w', '2', fixture(`fetch-globals/${app}`)], {
    nodeArgs: ['--require', probe],
  });
  const reply = await get(kp.url);
  expect(reply.status).toBe(200);
  await kp.stop();
  const lines = [...kp.log().matchAll(/^undici-probe pid=(\d+) loaded=(true|false)$/gm)];
  const arbiter = lines.find((line) => Number(line[1]) === kp.pid);
  const workers = lines.filter((line) => line !== arbiter).map((line) => line[2] === 'true');
  expect(arbiter, kp.log()).toBeDefined();
  expect(workers, kp.log()).toHaveLength(2);
  return { arbiter: arbiter?.[2] === 'true', workers };
}

describe('the fetch globals', () => {
  it('are never loaded by the arbiter or by workers serving a Node listener', async () => {
    expect(await undiciLoaded('node-app.cjs')).toEqual({ arbiter: false, workers: [false, false] });
  });

  it('are never loaded for a Node listener whose interface was only guessed', async () => {
    expect(await undiciLoaded('guessed-node-app.cjs')).toEqual({ arbiter: false, workers: [false, false] });
  });

  it('are loaded by workers serving a fetch app (the probe sees a load), never by the arbiter', async () => {
    expect(await undiciLoaded('fetch-app.mjs')).toEqual({ arbiter: false, workers: [true, true] });
  });
});
