import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rawExchange, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fixture, get, started } from './helpers.js';

// The access log and the error log as files: every Gunicorn atom, JSON lines, USR1 after logrotate.

const dir = mkdtempSync(join(tmpdir(), 'kelpie-logs-'));
afterEach(stopAll);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let count = 0;
const file = (name: string) => join(dir, `${++count}-${name}`);
const lines = (path: string) =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((line) => line !== '')
    : [];

describe('access log', () => {
  it("the default format is Apache's combined one, as Gunicorn writes it", async () => {
    const log = file('access.log');
    const kp = await startKelpie(['--access-logfile', log, '-w', '1', fixture('pid-app.js')]);
    await get(`${kp.url}/hello?x=1`, { headers: { 'user-agent': 'test-agent', referer: 'http://ref.test/' } });
    await waitUntil(() => lines(log).length === 1, { what: 'the access log line' });
    expect(lines(log)[0]).toMatch(
      /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/hello\?x=1 HTTP\/1\.1" 200 \d+ "http:\/\/ref\.test\/" "test-agent"$/,
    );
  });

  it('every atom of --access-logformat', async () => {
    const log = file('atoms.log');
    const atoms = 'h l u t r m U q H s B b f a T M D L p {x-trace}i {content-type}o {LOG_TEST_VAR}e'.split(' ');
    const format = atoms.map((atom) => `${atom}=%(${atom})s`).join('|');
    const kp = await startKelpie(
      ['--access-logfile', log, '--access-logformat', format, '-w', '1', fixture('pid-app.js')],
      {
        env: { LOG_TEST_VAR: 'from-env' },
      },
    );
    const reply = await get(`${kp.url}/path/here?a=1&b=2`, {
      method: 'POST',
      body: 'abc',
      headers: {
        authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
        'x-trace': 'trace-7',
        referer: 'http://ref/',
        'user-agent': 'ua/1',
      },
    });
    await waitUntil(() => lines(log).length === 1, { what: 'the access log line' });
    const fields = Object.fromEntries(
      (lines(log)[0] as string)
        .split('|')
        .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    expect(fields).toMatchObject({
      h: '127.0.0.1',
      l: '-',
      u: 'alice',
      r: 'POST /path/here?a=1&b=2 HTTP/1.1',
      m: 'POST',
      U: '/path/here',
      q: 'a=1&b=2',
      H: 'HTTP/1.1',
      s: '200',
      B: String(Buffer.byteLength(reply.body)),
      b: String(Buffer.byteLength(reply.body)),
      f: 'http://ref/',
      a: 'ua/1',
      T: '0',
      p: `<${reply.body}>`,
      '{x-trace}i': 'trace-7',
      '{content-type}o': '-',
      '{LOG_TEST_VAR}e': 'from-env',
    });
    expect(fields.t).toMatch(/^\[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]$/);
    expect(Number(fields.M)).toBeGreaterThanOrEqual(0);
    expect(Number(fields.D)).toBeGreaterThan(0);
    expect(fields.L).toMatch(/^\d+\.\d{6}$/);
  });

  it('a request cannot forge a line: quotes and control characters are escaped', async () => {
    const log = file('escape.log');
    const kp = await startKelpie(['--access-logfile', log, '-w', '1', fixture('pid-app.js')]);
    await rawExchange(
      kp.url,
      'GET /x HTTP/1.1\r\nHost: a\r\nUser-Agent: evil"\t\\ "injected\r\nConnection: close\r\n\r\n',
    );
    await waitUntil(() => lines(log).length === 1, { what: 'the access log line' });
    expect(lines(log)[0]).toContain('"evil\\"\\x09\\\\ \\"injected"');
  });

  it('an unknown atom is a usage error naming it and the allowed atoms', async () => {
    const kp = await startKelpie(['--access-logformat', '%(h)s %(zz)s', fixture('pid-app.js')], { waitFor: 'nothing' });
    expect((await kp.exited()).code).toBe(2);
    expect(kp.log()).toMatch(/Invalid value for --access-logformat: unknown atom %\(zz\)s .*Allowed: %\(h\)s %\(l\)s/);
  });

  it('USR1 reopens the files after logrotate moved them (access and error logs, async and threads)', async () => {
    for (const args of [
      ['-k', 'async'],
      ['-k', 'threads', '--threads', '2'],
    ]) {
      const access = file('rotate-access.log');
      const errors = file('rotate-error.log');
      const kp = await startKelpie(
        ['--access-logfile', access, '--error-logfile', errors, ...args, '-w', '2', fixture('pid-app.js')],
        {
          waitFor: 'nothing',
        },
      );
      await waitUntil(() => /Ready: 2 workers serving/.test(existsSync(errors) ? readFileSync(errors, 'utf8') : ''), {
        what: 'kelpie to start, per its error log file',
      });
      const url = `http://${readFileSync(errors, 'utf8').match(/Listening at: http:\/\/(\S+)/)?.[1]}`;
      await get(`${url}/before`);
      await waitUntil(() => lines(access).length === 1, { what: 'the first access line' });
      renameSync(access, `${access}.1`);
      renameSync(errors, `${errors}.1`);
      kp.signal('SIGUSR1');
      await waitUntil(() => existsSync(access) && existsSync(errors), { what: 'the files to be opened again' });
      // Every worker (and thread) reopens: many requests, all of them in the new file.
      for (let i = 0; i < 20; i++) await get(`${url}/after`);
      await waitUntil(() => lines(access).length === 20, { what: 'the new access lines' });
      expect(lines(`${access}.1`)).toHaveLength(1);
      kp.signal('SIGTERM');
      await kp.exited();
      expect(readFileSync(errors, 'utf8')).toMatch(/Shutting down: Master/);
      expect(readFileSync(`${errors}.1`, 'utf8')).toMatch(/Handling signal: usr1/);
    }
  });
});

describe('access log at exit: no line lost', () => {
  const requests = (url: string, n: number, path = '/line') =>
    Promise.all(Array.from({ length: n }, (_, i) => get(`${url}${path}?n=${i}`)));
  /** The distinct `n` of the lines that have one. */
  const numbered = (path: string) => new Set(lines(path).flatMap((line) => /[?&]n=(\d+)/.exec(line)?.[1] ?? []));

  // The last line is that of a response still under way when the stop begins: it is logged as
  // the drain ends, moments before the process exits.
  for (const args of [[], ['-k', 'threads', '--threads', '2']]) {
    it(`SIGTERM after N requests, the last one in flight: N lines (${args.join(' ') || '-k async'})`, async () => {
      const log = file('sigterm.log');
      const kp = await startKelpie(['--access-logfile', log, ...args, '-w', '1', fixture('exit-log-app.js')]);
      await requests(kp.url, 200);
      const last = await started(`${kp.url}/stream?ms=300&n=200`);
      kp.signal('SIGTERM');
      expect(await last.body).toBe('start\nend\n');
      expect((await kp.exited()).code).toBe(0);
      expect(lines(log)).toHaveLength(201);
      expect(numbered(log).size).toBe(201);
    });
  }

  // A quick stop right after the responses, well within the 100 ms a batch waits: under
  // -k threads the threads are asked to write their lines before they are terminated.
  for (const args of [[], ['-k', 'threads', '--threads', '2']]) {
    it(`SIGINT (a quick stop) right after N responses: N lines (${args.join(' ') || '-k async'})`, async () => {
      const log = file('sigint.log');
      const kp = await startKelpie(['--access-logfile', log, ...args, '-w', '1', fixture('pid-app.js')]);
      for (let i = 0; i < 20; i++) expect((await get(`${kp.url}/line?n=${i}`)).status).toBe(200);
      kp.signal('SIGINT');
      expect((await kp.exited()).code).toBe(0);
      expect(lines(log)).toHaveLength(20);
      expect(numbered(log).size).toBe(20);
    });
  }

  it('--max-requests N: the worker that exits has written its N lines', async () => {
    const log = file('max-requests.log');
    const kp = await startKelpie(['--access-logfile', log, '--max-requests', '50', '-w', '1', fixture('pid-app.js')]);
    // One at a time: the 50th response is the last this worker sends.
    for (let i = 0; i < 50; i++) expect((await get(`${kp.url}/line?n=${i}`)).status).toBe(200);
    await waitUntil(() => kp.countLog(/Worker exiting/) >= 1, { what: 'the worker to exit after 50 requests' });
    expect(lines(log)).toHaveLength(50);
    expect(numbered(log).size).toBe(50);
  });

  it("a batch whose write waits in libuv's pool is written, before the lines after it", async () => {
    const log = file('pool.log');
    const fifo = file('pool.fifo');
    const mark = file('pool.mark');
    execFileSync('mkfifo', [fifo]);
    const kp = await startKelpie(['--access-logfile', log, '-w', '1', fixture('exit-log-app.js')], {
      env: { UV_THREADPOOL_SIZE: '1', POOL_BLOCK_FIFO: fifo, POOL_BLOCK_MARK: mark },
    });
    await get(`${kp.url}/block-pool`);
    // Lines of 4 KiB, one at a time: more than a 64 KiB batch, so the first batch is handed to a
    // write() that waits in the pool while the last lines wait for a batch.
    const long = `/${'x'.repeat(4000)}`;
    for (let i = 0; i < 24; i++) await get(`${kp.url}${long}?n=${i}`);
    kp.signal('SIGTERM');
    await waitUntil(() => existsSync(mark), { what: "the app's shutdown, after the drain" });
    // Frees the pool's thread (the worker is still there: waiting for the write, or exiting).
    closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    expect((await kp.exited()).code).toBe(0);
    const order = lines(log)
      .flatMap((line) => /[?&]n=(\d+)/.exec(line)?.[1] ?? [])
      .map(Number);
    expect(order).toEqual(Array.from({ length: 24 }, (_, i) => i));
  });
});

describe('error log', () => {
  it('--log-format json: one object per line with pino field names, errors with err', async () => {
    const errors = file('json.log');
    const kp = await startKelpie(
      ['--error-logfile', errors, '--log-format', 'json', '-w', '1', fixture('pid-app.js')],
      {
        waitFor: 'nothing',
      },
    );
    await waitUntil(() => existsSync(errors) && /Ready: 1 worker/.test(readFileSync(errors, 'utf8')), {
      what: 'kelpie to start',
    });
    kp.signal('SIGTERM');
    await kp.exited();
    const records = lines(errors).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.length).toBeGreaterThan(4);
    for (const record of records) {
      expect(Object.keys(record).slice(0, 5)).toEqual(['level', 'time', 'pid', 'hostname', 'msg']);
      expect([20, 30, 40, 50, 60]).toContain(record.level);
    }
    expect(records.map((r) => r.msg)).toContain('Shutting down: Master');
    expect(new Set(records.map((r) => r.pid)).size).toBe(2);
    // An error with its stack, from an app that fails to load.
    const broken = await startKelpie(['--log-format', 'json', fixture('syntax-error.js')], { waitFor: 'nothing' });
    await broken.exited();
    const failure = broken
      .log()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; err?: { stack: string } })
      .find((record) => record.err);
    expect(failure?.level).toBe(50);
    expect(failure?.err?.stack).toMatch(/SyntaxError/);
  });
});
