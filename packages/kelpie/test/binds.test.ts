import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultBin, startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'kelpie-bind-'));
  dirs.push(dir);
  return dir;
};

afterEach(async () => {
  await stopAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('binds', () => {
  it('serves on a unix socket and removes the file at exit', async () => {
    const path = join(tempDir(), 'app.sock');
    const kp = await startKelpie(['-w', '2', '-b', `unix:${path}`, fixture('pid-app.js')]);
    expect(kp.addresses).toEqual([`unix:${path}`]);
    const reply = await get('http://localhost/', { socketPath: path });
    expect(reply.status).toBe(200);
    await kp.stop();
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale unix socket file but refuses a regular file', async () => {
    const dir = tempDir();
    const stale = join(dir, 'stale.sock');
    // A socket file nobody listens on any more: its server was killed and could not clean up.
    const owner = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => console.log('up'))`],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    await new Promise((resolve) => owner.stdout?.once('data', resolve));
    owner.kill('SIGKILL');
    await new Promise((resolve) => owner.once('exit', resolve));
    expect(existsSync(stale)).toBe(true);
    const kp = await startKelpie(['-b', `unix:${stale}`, fixture('pid-app.js')]);
    expect((await get('http://localhost/', { socketPath: stale })).status).toBe(200);
    await kp.stop();

    const regular = join(dir, 'file.sock');
    writeFileSync(regular, 'not a socket');
    const bad = await startKelpie(['-b', `unix:${regular}`, fixture('pid-app.js')], { waitFor: 'nothing' });
    expect((await bad.exited()).code).not.toBe(0);
    expect(bad.log()).toMatch(/exists and is not a socket/);
  });

  it('serves on IPv6 loopback', async () => {
    const kp = await startKelpie(['-b', '[::1]:0', fixture('pid-app.js')]);
    expect(kp.url).toMatch(/^http:\/\/\[::1\]:\d+$/);
    expect((await get(`${kp.url}/`)).status).toBe(200);
  });

  it('serves on several binds at once', async () => {
    const path = join(tempDir(), 'both.sock');
    const kp = await startKelpie(['-b', '127.0.0.1:0', '-b', `unix:${path}`, fixture('pid-app.js')]);
    expect(kp.addresses).toHaveLength(2);
    expect((await get(`${kp.url}/`)).status).toBe(200);
    expect((await get('http://localhost/', { socketPath: path })).status).toBe(200);
  });

  it('serves on an inherited descriptor with fd://N', async () => {
    // The test process plays systemd: it binds a socket and hands it to kelpie as fd 3.
    const create = (
      net as unknown as {
        _createServerHandle: (
          a: string,
          p: number,
          t: number,
        ) => { fd: number; close(): void; getsockname(o: { port?: number }): void };
      }
    )._createServerHandle;
    const handle = create('127.0.0.1', 0, 4);
    const out: { port?: number } = {};
    handle.getsockname(out);
    const child = spawn(process.execPath, [defaultBin(), '-b', 'fd://3', fixture('pid-app.js')], {
      stdio: ['ignore', 'ignore', 'pipe', handle.fd],
    });
    handle.close();
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        log += chunk;
        if (/Ready: 1 worker serving/.test(log)) resolve();
      });
      child.once('exit', () => reject(new Error(log)));
    });
    expect(log).toContain('Listening at: fd://3');
    expect((await get(`http://127.0.0.1:${out.port}/`)).status).toBe(200);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });

  /** Run `body` with a loopback port some other server holds. */
  async function withPortInUse(body: (port: number) => Promise<void>): Promise<void> {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      await body((holder.address() as net.AddressInfo).port);
    } finally {
      holder.close();
    }
  }

  it('retries an address in use, then exits non-zero with a clear message', () =>
    withPortInUse(async (port) => {
      const kp = await startKelpie(['-b', `127.0.0.1:${port}`, fixture('pid-app.js')], { waitFor: 'nothing' });
      const exit = await kp.exited(20_000);
      expect(exit.code).not.toBe(0);
      expect(kp.countLog(/Retrying in 1 second\./)).toBe(4);
      expect(kp.log()).toMatch(/address already in use \(tried 5 times\)/);
    }));

  it('stops cleanly on TERM while still retrying an address in use', () =>
    withPortInUse(async (port) => {
      const kp = await startKelpie(['-b', `127.0.0.1:${port}`, fixture('pid-app.js')], { waitFor: 'nothing' });
      await kp.waitForLog(/Retrying in 1 second\./);
      kp.signal('SIGTERM');
      await kp.waitForLog(/Handling signal: term/);
      const exit = await kp.exited(10_000);
      expect(exit.signal).toBeNull();
      expect(kp.log()).not.toMatch(/Booting worker/);
    }));
});
