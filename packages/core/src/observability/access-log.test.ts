import { mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AccessRecord, accessLogger, accessLogTime, compileAccessLogFormat, LogFileWriter } from './access-log.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-access-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Wait (bounded) until `path` holds `bytes` bytes. */
async function sizeReaches(path: string, bytes: number): Promise<void> {
  const size = () => {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  };
  for (let i = 0; i < 300 && size() < bytes; i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('LogFileWriter', () => {
  it('writes every line, in order, through batches, asynchronous writes and the exit flush', async () => {
    const path = join(dir, 'order.log');
    const writer = new LogFileWriter(path);
    const lines: string[] = [];
    for (let i = 0; i < 6000; i++) {
      // Short and long lines, non-ASCII ones (UTF-8 in the file), one longer than a whole batch.
      const text = i === 3000 ? 'x'.repeat(70_000) : i % 7 === 0 ? `é€ line ${i}` : `line ${i} ${'-'.repeat(i % 300)}`;
      lines.push(`${text}\n`);
      writer.write(`${text}\n`);
    }
    // What process exit does: the batch being written is left to its write, the rest written now.
    writer.flushSync();
    const expected = Buffer.from(lines.join(''));
    await sizeReaches(path, expected.length);
    expect(readFileSync(path).equals(expected)).toBe(true);
  });

  it('written() resolves once every line is written, in order (the end of a graceful stop)', async () => {
    const path = join(dir, 'written.log');
    const writer = new LogFileWriter(path);
    let expected = '';
    for (let i = 0; i < 3000; i++) {
      const line = `line ${i} ${'-'.repeat(i % 100)}\n`;
      expected += line;
      writer.write(line);
    }
    await writer.written();
    expect(readFileSync(path, 'utf8')).toBe(expected);
    // Nothing left for the exit flush.
    await writer.written();
    expect(readFileSync(path, 'utf8')).toBe(expected);
  });

  it('writes a line within about 100 ms without a flush', async () => {
    const path = join(dir, 'timer.log');
    const writer = new LogFileWriter(path);
    writer.write('one line\n');
    await sizeReaches(path, 9);
    expect(readFileSync(path, 'utf8')).toBe('one line\n');
  });

  it('after reopen (USR1), the lines waiting go to the new file, none lost', async () => {
    const path = join(dir, 'rotate.log');
    const writer = new LogFileWriter(path);
    writer.write('before 1\n');
    writer.flushSync();
    writer.write('waiting 2\n');
    renameSync(path, `${path}.1`);
    writer.reopen();
    writer.write('after 3\n');
    writer.flushSync();
    expect(readFileSync(`${path}.1`, 'utf8')).toBe('before 1\n');
    expect(readFileSync(path, 'utf8')).toBe('waiting 2\nafter 3\n');
  });
});

describe('%(t)s', () => {
  const line = compileAccessLogFormat('%(t)s');
  const at = (startMs: number) => line({ startMs } as AccessRecord);

  it('changes at the second boundary, and is right for a request that started before the last one logged', () => {
    const second = new Date(2026, 11, 31, 23, 59, 59).getTime();
    expect(at(second + 999)).toBe(accessLogTime(new Date(second)));
    expect(at(second + 1000)).toBe(accessLogTime(new Date(second + 1000)));
    expect(at(second + 1000)).toContain('[01/Jan/2027:00:00:00 ');
    // A long request finishing after a short one: its own start time, not the cached one.
    expect(at(second + 999)).toContain('[31/Dec/2026:23:59:59 ');
    expect(at(second + 1999)).toBe(accessLogTime(new Date(second + 1000)));
  });
});

describe('accessLogger', () => {
  it("writes the default format's line for each response, the body counted as the app writes it", async () => {
    const path = join(dir, 'server.log');
    const log = accessLogger({
      accessLogfile: path,
      accessLogformat: '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(B)s',
    });
    const server = createServer((req, res) => {
      log?.(req, res);
      if (req.url === '/chunked') {
        res.write('héllo ');
        res.write(Buffer.from('world'));
        res.end();
      } else res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<void>((resolve, reject) => {
        request({ port, host: '127.0.0.1', path, headers }, (res) => res.resume().on('end', resolve))
          .on('error', reject)
          .end();
      });
    try {
      await get('/chunked', {
        'user-agent': 'test "agent"',
        authorization: `Basic ${Buffer.from('ann:pw').toString('base64')}`,
      });
      await get('/x?q=1', { referer: 'http://example.com/' });
      const expected =
        '127.0.0.1 - ann "GET /chunked HTTP/1.1" 200 12 "-" "test \\"agent\\"" 12\n' +
        '127.0.0.1 - - "GET /x?q=1 HTTP/1.1" 200 2 "http://example.com/" "-" 2\n';
      await sizeReaches(path, Buffer.byteLength(expected));
      expect(readFileSync(path, 'utf8')).toBe(expected);
    } finally {
      server.close();
    }
  });

  it('logs request fields as req.headers gives them (fields twice, escaping, non-ASCII), read or not by the app', async () => {
    const path = join(dir, 'fields.log');
    const log = accessLogger({
      accessLogfile: path,
      accessLogformat: '%(u)s|%(a)s|%(f)s|%({X-Dup}i)s|%({cookie}i)s|%({set-cookie}i)s|%({host}i)s|%({none}i)s',
    });
    const seen: string[] = [];
    const server = createServer((req, res) => {
      log?.(req, res);
      // The second request's app reads req.headers first: the log must not tell the two apart.
      if (req.url === '/read') seen.push(JSON.stringify(req.headers));
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    // Fields twice, in mixed case: Node keeps the first User-Agent, Referer and Authorization,
    // joins X-Dup with ", ", Cookie with "; ", and Set-Cookie into an array.
    const fields =
      `User-Agent: first "ua" \u00e9\r\nuser-agent: second\r\nReferer: http://a/\r\nREFERER: http://b/\r\n` +
      `Authorization: Basic ${Buffer.from('ann:pw').toString('base64')}\r\nauthorization: Basic eDp5\r\n` +
      'X-Dup: 1\r\nx-dup: 2\r\nCookie: a=1\r\ncookie: b=2\r\nSet-Cookie: s=1\r\nset-cookie: s=2\r\n';
    const send = (url: string) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.end(`GET ${url} HTTP/1.1\r\nHost: 127.0.0.1\r\n${fields}Connection: close\r\n\r\n`, 'latin1'),
        );
        socket.on('error', reject).on('close', () => resolve());
        socket.resume();
      });
    try {
      await send('/raw');
      await send('/read');
      const line = 'ann|first \\"ua\\" \u00e9|http://a/|1, 2|a=1; b=2|s=1, s=2|127.0.0.1|-\n';
      await sizeReaches(path, Buffer.byteLength(line + line));
      expect(readFileSync(path, 'utf8')).toBe(line + line);
      expect(seen).toHaveLength(1);
    } finally {
      server.close();
    }
  });
});
