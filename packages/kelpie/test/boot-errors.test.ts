import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

afterEach(stopAll);

/** Start kelpie expecting it to stop by itself; return its exit and log. */
async function failing(args: string[], env: Record<string, string> = {}) {
  const kp = await startKelpie(args, { waitFor: 'nothing', env });
  const exit = await kp.exited(20_000);
  return { exit, log: kp.log(), stdout: kp.stdout(), booted: kp.countLog(/Booting worker with pid/) };
}

describe('boot and app-load errors stop the server with a distinct exit code', () => {
  it('a syntax error in the app exits 4 without a respawn loop', async () => {
    const { exit, log, booted } = await failing(['-w', '2', fixture('syntax-error.js')]);
    expect(exit.code).toBe(4);
    expect(log).toMatch(/Failed to import the app module .*syntax-error\.js: SyntaxError/);
    expect(log).toMatch(/Reason: App failed to load\./);
    expect(booted).toBeLessThanOrEqual(2);
  });

  it('an exception at import exits 4 and names the cause', async () => {
    const { exit, log } = await failing([fixture('throws-at-import.js')]);
    expect(exit.code).toBe(4);
    expect(log).toMatch(/database URL missing/);
  });

  it('a module without a usable export exits 4 and says what it found and what is accepted', async () => {
    const { exit, log } = await failing([fixture('no-app.js')]);
    expect(exit.code).toBe(4);
    expect(log).toMatch(/exports no usable app \(looked for "default", "app", then "default.app"; found: /);
    expect(log).toMatch(/started no server of its own \(it has nothing left to do that could start one\)/);
    expect(log).toMatch(/answer: number; config: object with keys port/);
    expect(log).toMatch(/Accepted: a Node request listener/);
  });

  it('a missing export name exits 4', async () => {
    const { exit, log } = await failing([`${fixture('pid-app.js')}:nothere`]);
    expect(exit.code).toBe(4);
    expect(log).toMatch(/has no export "nothere"/);
  });

  it('a missing module exits 4 and lists the paths tried', async () => {
    const { exit, log } = await failing(['./does-not-exist.js']);
    expect(exit.code).toBe(4);
    expect(log).toMatch(/Cannot find the app module "\.\/does-not-exist\.js"/);
  });

  it('an unknown worker class lists the names tried, the folders searched and the install command', async () => {
    const { exit, log } = await failing(['-k', 'nope', fixture('pid-app.js')]);
    expect(exit.code).toBe(3);
    expect(log).toMatch(/Worker class "nope" not found\./);
    expect(log).toMatch(/Tried: @kelpie\/worker-nope, kelpie-worker-nope/);
    expect(log).toMatch(/Searched from: /);
    expect(log).toMatch(/Install it with: npm install kelpie-worker-nope/);
    expect(log).not.toMatch(/Booting worker/);
  });

  it('a bad flag value is a usage error naming the flag, the value and what is allowed', async () => {
    const { exit, log } = await failing(['-w', 'many', fixture('pid-app.js')]);
    expect(exit.code).toBe(2);
    expect(log).toMatch(
      /kelpie: error: Invalid value for --workers: "many"\. Allowed: an integer from 1 to 4096, or "auto"/,
    );
  });

  it('an unknown flag is a usage error', async () => {
    const { exit, log } = await failing(['--wokers', '2', fixture('pid-app.js')]);
    expect(exit.code).toBe(2);
    expect(log).toMatch(/Unknown option '--wokers'/);
  });

  it('a missing APP_MODULE is a usage error', async () => {
    const { exit, log } = await failing([]);
    expect(exit.code).toBe(2);
    expect(log).toMatch(/No application module specified/);
  });

  it('a bad value in KELPIE_CMD_ARGS names its origin', async () => {
    const { exit, log } = await failing([fixture('pid-app.js')], { KELPIE_CMD_ARGS: '--timeout soon' });
    expect(exit.code).toBe(2);
    expect(log).toMatch(/Invalid value for --timeout \(from KELPIE_CMD_ARGS\): "soon"/);
  });
});

describe('worker classes that break the contract', () => {
  it('a close() that throws is logged and the worker still exits (INT)', async () => {
    const kp = await startKelpie([
      '-k',
      `${fixture('contract-breaking-workers.mjs')}#ThrowingCloseWorker`,
      '-w',
      '2',
      fixture('pid-app.js'),
    ]);
    kp.signal('SIGINT');
    expect(await kp.exited(10_000)).toEqual({ code: 0, signal: null });
    expect(kp.countLog(/\[ERROR\] Error in the worker class close\(\)/)).toBe(2);
    expect(kp.countLog(/Worker exiting \(pid: \d+\)/)).toBe(2);
  });
});
