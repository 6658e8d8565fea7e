/**
 * What a start loads, beside what it must: semver only for a worker class or adapter whose
 * `meta.core` is not a plain caret range; in the arbiter, node:crypto only for --pid and
 * node:dns/promises only for a host name to resolve; in a worker, the settings table, the fetch
 * bridge, the access log, StatsD and the PROXY protocol's reader only when a setting or the app
 * needs them. Preloaded probes (fixtures/startup) report each process's modules at exit; the
 * express app goes through the Express adapter's check.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

const OPTIONAL = [
  'config/settings.ts',
  'http/fetch-bridge.ts',
  'observability/access-log.ts',
  'observability/statsd.ts',
  'http/proxy-protocol.ts',
] as const;

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

describe("the arbiter's builtins", () => {
  it('loads neither node:crypto nor node:dns/promises without --pid on an IP address', async () => {
    const kp = await startKelpie(['-w', '1', fixture('pid-app.js')], {
      nodeArgs: ['--require', fixture('startup/builtins-probe.cjs')],
    });
    expect((await get(kp.url)).status).toBe(200);
    await kp.stop();
    expect(kp.log(), kp.log()).toMatch(/^builtins-probe pid=\d+ role=arbiter loaded=$/m);
  });

  it('loads node:crypto once --pid has a pidfile to write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-startup-loads-'));
    try {
      const kp = await startKelpie(['-w', '1', '--pid', join(dir, 'kelpie.pid'), fixture('pid-app.js')], {
        nodeArgs: ['--require', fixture('startup/builtins-probe.cjs')],
      });
      expect((await get(kp.url)).status).toBe(200);
      await kp.stop();
      expect(kp.log(), kp.log()).toMatch(/^builtins-probe pid=\d+ role=arbiter loaded=crypto$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The watched optional modules of core each worker loaded, once kelpie has served `app` with `args` and stopped. */
async function workerModules(app: string, args: string[] = []): Promise<string[][]> {
  const kp = await startKelpie(['-w', '2', ...args, fixture(app)], {
    nodeArgs: ['--require', fixture('startup/modules-probe.cjs')],
  });
  expect((await get(kp.url)).status).toBe(200);
  await kp.stop();
  const lines = [...kp.log().matchAll(/^modules-probe pid=\d+ role=worker files=\d+ loaded=(.*)$/gm)];
  expect(lines, kp.log()).toHaveLength(2);
  return lines.map((line) => (line[1] ? (line[1] as string).split(',') : []));
}

describe("a worker's optional modules", () => {
  it('loads none of them for a Node listener with the default settings', async () => {
    expect(await workerModules('pid-app.js')).toEqual([[], []]);
  });

  it('loads the fetch bridge, and only it, for a fetch app', async () => {
    const loaded = await workerModules('fetch-globals/fetch-app.mjs');
    expect(loaded).toEqual([['http/fetch-bridge.ts'], ['http/fetch-bridge.ts']]);
  });

  it('loads the access log, StatsD and the PROXY protocol when their settings are on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-startup-loads-'));
    try {
      const args = ['--access-logfile', join(dir, 'access.log'), '--statsd-host', '127.0.0.1:9', '--proxy-protocol'];
      for (const loaded of await workerModules('pid-app.js', args)) {
        expect(loaded).toEqual(
          expect.arrayContaining(
            OPTIONAL.filter((name) => name.startsWith('observability/') || name === 'http/proxy-protocol.ts'),
          ),
        );
        expect(loaded).not.toContain('http/fetch-bridge.ts');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
