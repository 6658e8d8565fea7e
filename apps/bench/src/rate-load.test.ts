import { createServer, type Server } from 'node:http';
import { describe, expect, it } from 'vitest';
import { dueCount, generate, intendedMs, newHistogram, ResponseParser, summarize } from './rate-load.js';
import { mergeRaw, rateLoadResult } from './rate-load-runner.js';

describe('the schedule', () => {
  it('spreads requests evenly from the start, request 0 at once', () => {
    expect(intendedMs(0, 1000)).toBe(0);
    expect(intendedMs(1, 1000)).toBe(1);
    expect(intendedMs(5, 250)).toBe(20);
  });

  it('counts the requests due by a moment, whatever happened meanwhile, up to the total', () => {
    expect(dueCount(-1, 1000, 100)).toBe(0);
    expect(dueCount(0, 1000, 100)).toBe(1);
    expect(dueCount(0.999, 1000, 100)).toBe(1);
    expect(dueCount(1, 1000, 100)).toBe(2);
    // A pump that wakes 50 ms late finds 50 more due: they go out late, and their wait counts.
    expect(dueCount(50.5, 1000, 100)).toBe(51);
    expect(dueCount(10_000, 1000, 100)).toBe(100);
  });
});

describe('summarize', () => {
  it('gives the percentiles of microsecond samples in milliseconds', () => {
    const histogram = newHistogram();
    for (let us = 1; us <= 10_000; us++) histogram.record(us);
    const { p50, p99, p999, max } = summarize(histogram);
    expect(p50).toBeCloseTo(5, 1);
    expect(p99).toBeCloseTo(9.9, 1);
    expect(p999).toBeCloseTo(9.99, 1);
    expect(max).toBeCloseTo(10, 1);
  });

  it('is NaN with no samples, never zero', () => {
    expect(summarize(newHistogram()).p99).toBeNaN();
  });
});

describe('ResponseParser', () => {
  const responses = (...chunks: string[]) => {
    const statuses: number[] = [];
    const parser = new ResponseParser((status) => statuses.push(status));
    for (const chunk of chunks) parser.feed(Buffer.from(chunk, 'latin1'));
    return statuses;
  };
  const ok = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\nHello, World!\n';

  it('reads a whole response', () => {
    expect(responses(ok)).toEqual([200]);
  });

  it('reads a response split anywhere, even inside the head end or the length header', () => {
    for (let cut = 1; cut < ok.length; cut++) expect(responses(ok.slice(0, cut), ok.slice(cut))).toEqual([200]);
    expect(responses(...ok.split(''))).toEqual([200]);
  });

  it('reads several responses in one chunk, and the length header in any case', () => {
    const notFound = 'HTTP/1.1 404 Not Found\r\ncontent-length: 10\r\n\r\nNot Found\n';
    expect(responses(ok + notFound + ok)).toEqual([200, 404, 200]);
  });

  it('waits for the whole body', () => {
    expect(responses(ok.slice(0, -1))).toEqual([]);
  });

  it('takes a 204 without a length, and refuses a body it cannot frame', () => {
    expect(responses('HTTP/1.1 204 No Content\r\n\r\n')).toEqual([204]);
    expect(() => responses('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')).toThrow(/Content-Length/);
    expect(() => responses('SSH-2.0-OpenSSH\r\n\r\n')).toThrow(/HTTP/);
  });
});

describe('generate against a local node:http server', () => {
  it('sends the scheduled requests over keep-alive connections and measures every one', async () => {
    let served = 0;
    const server: Server = createServer((req, res) => {
      served++;
      const body = req.url === '/hello' ? 'Hello, World!\n' : 'Not Found\n';
      res.writeHead(req.url === '/hello' ? 200 : 404, { 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    let connections = 0;
    server.on('connection', () => connections++);
    try {
      const raw = await generate({ url: `http://127.0.0.1:${port}/hello`, rate: 400, seconds: 0.5, connections: 4 });
      expect(raw.counts.scheduled).toBe(200);
      expect(raw.counts.sent).toBe(200);
      expect(raw.counts.completed + raw.counts.unfinished).toBe(200);
      expect(raw.latency.count).toBe(200);
      expect(served).toBe(raw.counts.sent);
      expect(connections).toBe(4);
      const result = rateLoadResult(mergeRaw([raw]), 400);
      expect(result.p50).toBeGreaterThan(0);
      expect(result.p999).toBeGreaterThanOrEqual(result.p99);

      // A warm-up is sent but counted nowhere.
      served = 0;
      const warmed = await generate({
        url: `http://127.0.0.1:${port}/hello`,
        rate: 400,
        seconds: 0.25,
        connections: 4,
        warmupSeconds: 0.25,
      });
      expect(warmed.counts.scheduled).toBe(100);
      expect(warmed.latency.count).toBe(100);
      expect(served).toBe(200);

      const missing = await generate({ url: `http://127.0.0.1:${port}/nope`, rate: 100, seconds: 0.1, connections: 2 });
      expect(missing.counts.non2xx).toBe(missing.counts.completed);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('loads loopback only', async () => {
    await expect(generate({ url: 'http://192.0.2.1/', rate: 1, seconds: 1, connections: 1 })).rejects.toThrow(
      /loopback/,
    );
  });
});

describe('mergeRaw', () => {
  const part = (seconds: number, completed: number) => {
    const latency = newHistogram();
    latency.record(1000);
    const counts = { scheduled: completed, sent: completed, completed, non2xx: 0, socketErrors: 0, unfinished: 0 };
    return { latency, pacing: newHistogram(), counts, seconds };
  };

  it('adds threads side by side and rounds one after another', () => {
    expect(mergeRaw([part(10, 500), part(10, 500)]).seconds).toBe(10);
    expect(mergeRaw([part(10, 500), part(10, 500)], true).seconds).toBe(20);
    expect(rateLoadResult(mergeRaw([part(10, 500), part(10, 500)]), 100).achievedRate).toBe(100);
  });

  it('warns when the rate was not held', () => {
    expect(rateLoadResult(part(10, 500), 100).warnings.join()).toMatch(/rate not held/);
    expect(rateLoadResult(part(10, 1000), 100).warnings).toEqual([]);
  });
});
