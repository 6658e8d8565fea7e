import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { reusePortSupported } from '@kelpie/core/internal';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { ensureCommand, findCommand } from '@kelpie/testkit/apt';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// What the kernel sees of kelpie's listening sockets, read with ss (iproute2).

afterEach(stopAll);

/** The listening TCP sockets on `port`: their backlog (ss's Send-Q for listeners). */
async function listeningSockets(port: string): Promise<number[]> {
  const missing = await ensureCommand('ss', 'iproute2');
  if (missing) throw new Error(missing);
  const { stdout } = await promisify(execFile)(findCommand('ss') as string, ['-ltnH', `sport = :${port}`]);
  return stdout
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => Number(line.trim().split(/\s+/)[2]));
}

describe('listening sockets', () => {
  it('--backlog reaches listen(2)', async () => {
    const kp = await startKelpie(['--backlog', '1000', '-w', '2', fixture('pid-app.js')]);
    expect(await listeningSockets(new URL(kp.url).port)).toEqual([1000]);
  });

  it('the first worker puts the sockets to listen(2), with no helper process, and its app never sees how', async () => {
    const kp = await startKelpie([
      '--log-level',
      'debug',
      '-w',
      '2',
      '-b',
      '127.0.0.1:0',
      '-b',
      '127.0.0.1:0',
      fixture('listen-spares-app.mjs'),
    ]);
    expect(kp.log()).toMatch(/listen\(2\) done by the first worker/);
    expect(kp.log()).not.toMatch(/helper process/);
    const urls = [...kp.log().matchAll(/Listening at: (http:\/\/\S+)/g)].map((m) => m[1] as string);
    expect(urls).toHaveLength(2);
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      for (const url of urls) {
        const { body } = await get(url);
        const [variable, pid] = body.split(' ');
        expect(variable).toBe('unset');
        seen.add(pid as string);
      }
    }
    expect(seen.size).toBe(2);
  });

  it.runIf(reusePortSupported())(
    '--reuse-port: every worker binds a socket of its own beside the shared one',
    async () => {
      const kp = await startKelpie(['--reuse-port', '--backlog', '900', '-w', '2', fixture('pid-app.js')]);
      expect(await listeningSockets(new URL(kp.url).port)).toEqual([900, 900, 900]);
      const pids = new Set<string>();
      for (let i = 0; i < 40 && pids.size < 2; i++) pids.add((await get(kp.url)).body);
      expect(pids.size).toBe(2);
    },
  );

  it.skipIf(reusePortSupported())(
    '--reuse-port on a Node.js without it: exit 2, saying which version it needs',
    async () => {
      const kp = await startKelpie(['--reuse-port', fixture('pid-app.js')], { waitFor: 'nothing' });
      expect((await kp.exited()).code).toBe(2);
      expect(kp.log()).toMatch(/--reuse-port needs Node\.js 22\.12 or later .*this is Node\.js 20\./);
    },
  );
});
