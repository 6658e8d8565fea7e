import { spawnSync } from 'node:child_process';
import { defaultBin, startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

afterEach(stopAll);

const run = (args: string[]) => spawnSync(process.execPath, [defaultBin(), ...args], { encoding: 'utf8' });

describe('command line', () => {
  it('--help lists every flag with its default', () => {
    const result = run(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^usage: kelpie \[OPTIONS\] APP_MODULE/);
    for (const flag of [
      '-b, --bind ADDRESS',
      '-w, --workers INT',
      '-k, --worker-class NAME',
      '--worker-connections INT',
      '-t, --timeout SECONDS',
      '--graceful-timeout SECONDS',
      '--keep-alive SECONDS',
      '--log-level LEVEL',
      '--backlog INT',
    ]) {
      expect(result.stdout).toContain(flag);
    }
    expect(result.stdout).toContain('[127.0.0.1:8000, or 0.0.0.0:$PORT when PORT is set]');
  });

  it('--version prints the version', () => {
    const result = run(['--version']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^kelpie \(version \d+\.\d+\.\d+, @kelpie\/core \d+\.\d+\.\d+\)/);
  });

  it('a bare --version (printed without loading the server) says what --version among other flags says', () => {
    const bare = run(['--version']);
    const full = run(['-w', '2', '-v']);
    expect(full.status).toBe(0);
    expect(bare.stdout).toBe(full.stdout);
  });

  it('takes options from KELPIE_CMD_ARGS, with the command line winning', async () => {
    const kp = await startKelpie([fixture('pid-app.js'), '--log-level', 'debug'], {
      env: { KELPIE_CMD_ARGS: '-w 2 --log-level "warning"' },
    });
    expect(kp.countLog(/Booting worker/)).toBe(2);
    expect(kp.log()).toMatch(/\[DEBUG\] Worker ready/);
  });

  it('takes the worker count from WEB_CONCURRENCY', async () => {
    const kp = await startKelpie([fixture('pid-app.js')], { env: { WEB_CONCURRENCY: '2' } });
    expect(kp.countLog(/Booting worker/)).toBe(2);
  });

  it('binds 0.0.0.0:$PORT when PORT is set and no --bind is given', async () => {
    const probe = await startKelpie(['-b', '127.0.0.1:0', fixture('pid-app.js')]);
    const port = new URL(probe.url).port;
    await probe.stop();
    const kp = await startKelpie([fixture('pid-app.js')], { env: { PORT: port }, autoBind: false });
    expect(kp.log()).toContain(`Listening at: http://0.0.0.0:${port}`);
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(200);
  });

  it('-e sets environment variables for the app and --chdir changes its directory', async () => {
    const kp = await startKelpie(['-e', 'GREETING=hello world', '--chdir', fixture(''), 'pid-app.js']);
    const reply = JSON.parse((await get(`${kp.url}/env`)).body);
    expect(reply).toEqual({ greeting: 'hello world', cwd: fixture('').replace(/\/$/, '') });
  });

  it('loads a CommonJS factory with arguments', async () => {
    const kp = await startKelpie([`${fixture('factory.cjs')}:create("hey")`]);
    expect((await get(kp.url)).body).toBe('hey from factory\n');
  });
});
