import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appFile, exportedTwin, loopbackPreload } from './peers/paths.js';

const server = appFile('express-listen');
const twin = exportedTwin('express-listen') as string;
const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');

describe('the unchanged app.listen() file and its exported twin', () => {
  it('ends in app.listen(process.env.PORT || 3000), as users write it', () => {
    expect(lines(server).at(-1)).toBe('app.listen(process.env.PORT || 3000);');
  });

  it('is the same app as the twin kelpie serves as the reference, but for the last line', () => {
    expect(lines(twin).at(-1)).toBe('module.exports = app;');
    expect(lines(twin).slice(0, -1)).toEqual(lines(server).slice(0, -1));
  });
});

describe('the loopback preload the peers run it with', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
  });

  /** Runs `args` under `node --require loopback.cjs`; resolves with its `listening:` line. */
  function startWithPreload(args: string[], env: Record<string, string> = {}): Promise<string> {
    const child = spawn(process.execPath, ['--require', loopbackPreload, ...args], {
      cwd: join(server, '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    return new Promise((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        const line = /^listening: .*$/m.exec(output);
        if (line) resolve(line[0]);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`exited with code ${code} before listening:\n${output}`)));
    });
  }

  it('keeps a listen(PORT) without a host on 127.0.0.1 and serves the unchanged file there', async () => {
    // PORT=0: the kernel picks the port, which the preload's line reports.
    const line = await startWithPreload([server], { PORT: '0', NODE_ENV: 'production' });
    const match = /^listening: instance \d+ on 127\.0\.0\.1:(\d+)$/.exec(line);
    expect(match, line).not.toBeNull();
    const response = await fetch(`http://127.0.0.1:${match?.[1]}/hello`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('Hello, World!\n');
  });

  it('leaves a listen with its own host alone', async () => {
    const line = await startWithPreload(['-e', "require('node:http').createServer().listen(0, '::1')"]).catch(
      (error: Error) => error.message,
    );
    // ::1 may be missing on a machine without IPv6; then the listen fails instead of moving.
    expect(line).toMatch(/on ::1:\d+$|EADDRNOTAVAIL/);
  });
});
