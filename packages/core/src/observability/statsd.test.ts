import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { DATAGRAM_BYTES, StatsdClient, type StatsdOptions, statsdObserver, writeMilliseconds } from './statsd.js';

/** A StatsD server on the loopback: the datagrams it received. */
async function statsdServer(): Promise<{ port: number; datagrams: Buffer[]; socket: Socket }> {
  const socket = createSocket('udp4');
  const datagrams: Buffer[] = [];
  socket.on('message', (message) => datagrams.push(message));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, datagrams, socket };
}

const open: { close(): void }[] = [];
afterEach(() => {
  for (const thing of open.splice(0)) thing.close();
});

function client(port: number, options: Partial<StatsdOptions> = {}): StatsdClient {
  const errors: Error[] = [];
  const statsd = new StatsdClient({
    host: '127.0.0.1',
    port,
    prefix: '',
    tags: [],
    onError: (e) => errors.push(e),
    ...options,
  });
  open.push(statsd);
  return statsd;
}

/** Wait (bounded) until `count` lines have arrived; returns every line. */
async function linesArrived(datagrams: Buffer[], count: number): Promise<string[]> {
  const lines = () => datagrams.flatMap((d) => d.toString('utf8').split('\n'));
  for (let i = 0; i < 200 && lines().length < count; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return lines();
}

describe('writeMilliseconds', () => {
  it('writes seconds as milliseconds to the microsecond, without trailing zeros', () => {
    const text = (seconds: number) => {
      const out = Buffer.alloc(32);
      return out.toString('latin1', 0, writeMilliseconds(out, 0, seconds));
    };
    expect(text(0.0123456)).toBe('12.346');
    expect(text(0.0123)).toBe('12.3');
    expect(text(0.005)).toBe('5');
    expect(text(0.0000454)).toBe('0.045');
    expect(text(0.0000004)).toBe('0');
    expect(text(1.2)).toBe('1200');
    expect(text(3600)).toBe('3600000');
    expect(text(0.10001)).toBe('100.01');
    expect(text(-1)).toBe('0');
    expect(text(Number.NaN)).toBe('0');
    // What JavaScript prints for the same rounded value, for any duration.
    for (let i = 0; i < 2000; i++) {
      const seconds = Math.random() * 10 ** ((i % 7) - 4);
      expect(text(seconds)).toBe(String(Math.round(seconds * 1e6) / 1000));
    }
  });
});

describe('StatsdClient', () => {
  it('packs lines into datagrams of at most DATAGRAM_BYTES, none split and none lost', async () => {
    const server = await statsdServer();
    open.push(server.socket);
    const statsd = client(server.port, { prefix: 'shop.', tags: ['env:test', 'team:web'] });
    const timer = statsd.timer('kelpie.request.duration');
    for (let i = 0; i < 1000; i++) timer(i / 1e5);
    statsd.increment('kelpie.requests', 1000);
    statsd.gauge('kelpie.workers', 2);
    statsd.flush();
    const lines = await linesArrived(server.datagrams, 1002);
    expect(lines).toHaveLength(1002);
    expect(server.datagrams.length).toBeGreaterThan(1);
    for (const datagram of server.datagrams) expect(datagram.length).toBeLessThanOrEqual(DATAGRAM_BYTES);
    // Full datagrams: the next line would not have fitted.
    for (const datagram of server.datagrams.slice(0, -1)) expect(datagram.length).toBeGreaterThan(DATAGRAM_BYTES - 60);
    const durations = lines.filter((line) => line.startsWith('shop.kelpie.request.duration:'));
    expect(durations).toHaveLength(1000);
    for (const [i, line] of durations.entries())
      expect(line).toBe(`shop.kelpie.request.duration:${Math.round(i * 10) / 1000}|ms|#env:test,team:web`);
    expect(lines).toContain('shop.kelpie.requests:1000|c|#env:test,team:web');
    expect(lines).toContain('shop.kelpie.workers:2|g|#env:test,team:web');
  });

  it('sends what waits 100 ms after the first line, and everything at close', async () => {
    const server = await statsdServer();
    open.push(server.socket);
    const statsd = client(server.port);
    statsd.gauge('kelpie.workers', 3);
    // No flush called: the timer sends it.
    expect(await linesArrived(server.datagrams, 1)).toEqual(['kelpie.workers:3|g']);
    const timer = statsd.timer('d');
    timer(0.001);
    timer(0.002);
    statsd.close();
    expect(await linesArrived(server.datagrams, 3)).toEqual(['kelpie.workers:3|g', 'd:1|ms', 'd:2|ms']);
  });

  it('a line longer than a datagram goes alone, whole', async () => {
    const server = await statsdServer();
    open.push(server.socket);
    const tags = Array.from({ length: 200 }, (_, i) => `tag${i}:value`);
    const statsd = client(server.port, { tags });
    statsd.increment('a');
    statsd.increment('b');
    statsd.flush();
    const lines = await linesArrived(server.datagrams, 2);
    expect(lines).toEqual([`a:1|c|#${tags.join(',')}`, `b:1|c|#${tags.join(',')}`]);
  });

  it('statsdObserver: a timer line per response, the counters summed per flush', async () => {
    const server = await statsdServer();
    open.push(server.socket);
    const statsd = client(server.port);
    const observe = statsdObserver(statsd);
    for (let i = 0; i < 5; i++) observe(200, 0.001);
    observe(404, 0.002);
    observe(0, 0.003);
    statsd.flush();
    const lines = await linesArrived(server.datagrams, 11);
    expect(lines).toHaveLength(11);
    expect(lines.filter((line) => line === 'kelpie.request.duration:1|ms')).toHaveLength(5);
    expect(lines).toContain('kelpie.request.duration:2|ms');
    expect(lines).toContain('kelpie.request.duration:3|ms');
    expect(lines).toContain('kelpie.requests:7|c');
    expect(lines).toContain('kelpie.request.status.200:5|c');
    expect(lines).toContain('kelpie.request.status.404:1|c');
    expect(lines).toContain('kelpie.request.status.0:1|c');
    // Counted once: the next flush has nothing to send.
    statsd.flush();
    observe(200, 0.001);
    statsd.flush();
    const more = await linesArrived(server.datagrams, 14);
    expect(more.slice(11)).toEqual([
      'kelpie.request.duration:1|ms',
      'kelpie.requests:1|c',
      'kelpie.request.status.200:1|c',
    ]);
  });

  it('after a refusal (nothing listened) datagrams still reach a server that starts at the address', async () => {
    // A free port: bound, its number kept, closed.
    const probe = await statsdServer();
    const port = probe.port;
    probe.socket.close();
    const errors: NodeJS.ErrnoException[] = [];
    const statsd = client(port, { onError: (error) => errors.push(error) });
    // The refusal comes back as an ICMP message after a datagram: one line per try, bounded.
    for (let i = 0; i < 200 && !errors.some((error) => error.code === 'ECONNREFUSED'); i++) {
      statsd.increment('lost');
      statsd.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(errors.map((error) => error.code)).toContain('ECONNREFUSED');
    // Disconnected: sendto() hears of no more refusals (a connected socket would, after each).
    const refused = errors.length;
    for (let i = 0; i < 10; i++) {
      statsd.increment('lost');
      statsd.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(errors).toHaveLength(refused);
    const server = createSocket('udp4');
    const datagrams: Buffer[] = [];
    server.on('message', (message) => datagrams.push(message));
    await new Promise<void>((resolve) => server.bind(port, '127.0.0.1', resolve));
    open.push(server);
    statsd.increment('kelpie.requests', 3);
    statsd.flush();
    expect(await linesArrived(datagrams, 1)).toEqual(['kelpie.requests:3|c']);
  });

  it('a host that cannot be resolved is reported, and nothing throws', async () => {
    const errors: Error[] = [];
    const statsd = client(8125, { host: 'statsd.invalid', onError: (error) => errors.push(error) });
    statsd.increment('a');
    statsd.flush();
    for (let i = 0; i < 500 && errors.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(errors.length).toBeGreaterThan(0);
  });
});
