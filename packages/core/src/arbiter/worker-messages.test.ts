import { describe, expect, it, vi } from 'vitest';
import { Logger, type LogSink } from '../observability/logger.js';
import { addStatusDelta, addStatuses, type StatusStats, statusTotals } from '../observability/stats.js';
import { BadMessageLog, checkWorkerMessage, MAX_ACCEPT_COUNT, MAX_HOLD } from './worker-messages.js';

// What reaches the arbiter went through JSON on the IPC channel: cases are written as JSON text
// where it matters (an own "__proto__" key exists only that way).
const fromChannel = (value: unknown) =>
  JSON.parse(typeof value === 'string' && value.startsWith('{') ? value : JSON.stringify(value));
const buckets = Array(12).fill(0);
const goodStats = {
  requests: 3,
  inFlight: 1,
  rss: 52_000_000,
  lag: 0.002,
  statuses: {
    '200': { count: 2, sum: 0.01, buckets: [2, ...Array(11).fill(0)] },
    other: { count: 0, sum: 0, buckets },
  },
};
const heartbeat = (stats: unknown) => ({ type: 'kelpie:heartbeat', stats });
const withStats = (changes: Record<string, unknown>) => heartbeat({ ...goodStats, ...changes });
const withStatus = (key: string, value: unknown) => withStats({ statuses: { [key]: value } });

describe('checkWorkerMessage: good messages', () => {
  it.each([
    [{ type: 'kelpie:ready' }],
    [{ type: 'kelpie:heartbeat' }],
    [heartbeat(goodStats)],
    [heartbeat({ requests: 0, inFlight: 0, rss: 1, lag: 0 })],
    [{ type: 'kelpie:accept', count: 1 }],
    [{ type: 'kelpie:accept', count: MAX_ACCEPT_COUNT }],
    [{ type: 'kelpie:accept', count: 2, hold: 1 }],
    [{ type: 'kelpie:accept', count: 1, hold: 0 }],
    [{ type: 'kelpie:accept', count: 1, hold: MAX_HOLD }],
    [{ type: 'kelpie:dup', listener: 0 }],
    [{ type: 'kelpie:returned', id: 7 }],
    [{ type: 'kelpie:retiring', reason: 'crash' }],
    [{ type: 'kelpie:retiring', reason: 'max_requests' }],
    [{ type: 'kelpie:listened', states: ['ok', 'EADDRINUSE', 'UNKNOWN'] }],
    [{ type: 'kelpie:listened', states: [] }],
  ])('%j passes, as a copy of what the arbiter reads', (message) => {
    const checked = checkWorkerMessage(fromChannel(message));
    expect(checked).toEqual({ ok: true, message });
  });

  it('keeps only the fields the arbiter reads; statuses come back without a prototype', () => {
    const checked = checkWorkerMessage(
      fromChannel({ ...heartbeat({ ...goodStats, extra: 'x'.repeat(100) }), more: 1 }),
    );
    if (!checked?.ok || checked.message.type !== 'kelpie:heartbeat') throw new Error('expected a heartbeat');
    expect(Object.keys(checked.message)).toEqual(['type', 'stats']);
    expect(Object.keys(checked.message.stats ?? {})).toEqual(['requests', 'inFlight', 'rss', 'lag', 'statuses']);
    expect(Object.getPrototypeOf(checked.message.stats?.statuses)).toBe(null);
  });

  it.each([['a string'], [42], [null], [['kelpie:ready']], [{ type: 'my-app:event' }], [{ cmd: 'NODE_X' }]])(
    '%j is not a kelpie message: ignored, not reported',
    (value) => {
      expect(checkWorkerMessage(fromChannel(value))).toBeUndefined();
    },
  );

  it('an inherited type is not a type', () => {
    expect(checkWorkerMessage(Object.create({ type: 'kelpie:ready' }))).toBeUndefined();
  });
});

describe('checkWorkerMessage: bad messages are refused, saying why', () => {
  const max = Number.MAX_SAFE_INTEGER;
  it.each([
    ['unknown type', { type: 'kelpie:boot' }, 'unknown message type "kelpie:boot"'],
    [
      'long unknown type, quoted with its breaks escaped and cut short',
      { type: `kelpie:${'\n[CRITICAL] x'.repeat(100)}` },
      `unknown message type "kelpie:\\n[CRITICAL] x\\n[CRITICAL] x\\n[CRITI" (1307 characters)`,
    ],
    ['stats null', heartbeat(null), 'kelpie:heartbeat: stats must be an object, not null'],
    ['stats an array', heartbeat([1, 2]), 'kelpie:heartbeat: stats must be an object, not an array of 2'],
    [
      'requests missing',
      withStats({ requests: undefined }),
      'kelpie:heartbeat: stats.requests must be a whole number from 0 to 9007199254740991, not missing',
    ],
    [
      'requests negative',
      withStats({ requests: -1 }),
      `kelpie:heartbeat: stats.requests must be a whole number from 0 to ${max}, not -1`,
    ],
    [
      'requests fractional',
      withStats({ requests: 1.5 }),
      `kelpie:heartbeat: stats.requests must be a whole number from 0 to ${max}, not 1.5`,
    ],
    [
      'requests huge',
      withStats({ requests: 1e300 }),
      `kelpie:heartbeat: stats.requests must be a whole number from 0 to ${max}, not 1e+300`,
    ],
    [
      'inFlight a string',
      withStats({ inFlight: '3' }),
      `kelpie:heartbeat: stats.inFlight must be a whole number from 0 to ${max}, not a string of 1 characters`,
    ],
    [
      'rss an object',
      withStats({ rss: { valueOf: 1 } }),
      `kelpie:heartbeat: stats.rss must be a whole number from 0 to ${max}, not an object`,
    ],
    [
      'rss a boolean',
      withStats({ rss: true }),
      `kelpie:heartbeat: stats.rss must be a whole number from 0 to ${max}, not true`,
    ],
    [
      'lag negative',
      withStats({ lag: -0.5 }),
      `kelpie:heartbeat: stats.lag must be a number from 0 to ${max}, not -0.5`,
    ],
    [
      'lag huge',
      withStats({ lag: 1e20 }),
      `kelpie:heartbeat: stats.lag must be a number from 0 to ${max}, not 100000000000000000000`,
    ],
    [
      'statuses a string',
      withStats({ statuses: 'abc' }),
      'kelpie:heartbeat: stats.statuses must be an object, not a string of 3 characters',
    ],
    ['statuses null', withStats({ statuses: null }), 'kelpie:heartbeat: stats.statuses must be an object, not null'],
    ['a status null', withStatus('200', null), 'kelpie:heartbeat: stats.statuses["200"] must be an object, not null'],
    [
      'a status key not a code',
      withStatus('2000', { count: 1, sum: 0, buckets }),
      'kelpie:heartbeat: stats.statuses has a key "2000" that is not a status code',
    ],
    [
      'a status key below 100',
      withStatus('099', { count: 1, sum: 0, buckets }),
      'kelpie:heartbeat: stats.statuses has a key "099" that is not a status code',
    ],
    [
      'a status key constructor',
      withStatus('constructor', { count: 1, sum: 0, buckets }),
      'kelpie:heartbeat: stats.statuses has a key "constructor" that is not a status code',
    ],
    [
      'a status key __proto__',
      `{"type":"kelpie:heartbeat","stats":{"requests":1,"inFlight":0,"rss":1,"lag":0,"statuses":{"__proto__":{"count":1,"sum":0,"buckets":${JSON.stringify(buckets)}}}}}`,
      'kelpie:heartbeat: stats.statuses has a key "__proto__" that is not a status code',
    ],
    [
      'too many statuses',
      withStats({ statuses: Object.fromEntries(Array.from({ length: 502 }, (_, i) => [String(i), null])) }),
      'kelpie:heartbeat: stats.statuses has 502 keys, more than the 501 statuses there are',
    ],
    [
      'a count negative',
      withStatus('200', { count: -2, sum: 0, buckets }),
      `kelpie:heartbeat: stats.statuses["200"].count must be a whole number from 0 to ${max}, not -2`,
    ],
    [
      'a count null',
      withStatus('200', { count: null, sum: 0, buckets }),
      `kelpie:heartbeat: stats.statuses["200"].count must be a whole number from 0 to ${max}, not null`,
    ],
    [
      'a sum a string',
      withStatus('404', { count: 1, sum: '1', buckets }),
      `kelpie:heartbeat: stats.statuses["404"].sum must be a number from 0 to ${max}, not a string of 1 characters`,
    ],
    [
      'buckets missing',
      withStatus('200', { count: 1, sum: 0 }),
      'kelpie:heartbeat: stats.statuses["200"].buckets must be an array of 12 counts, not missing',
    ],
    [
      'buckets too long',
      withStatus('200', { count: 1, sum: 0, buckets: Array(13).fill(0) }),
      'kelpie:heartbeat: stats.statuses["200"].buckets must be an array of 12 counts, not an array of 13',
    ],
    [
      'buckets a string',
      withStatus('200', { count: 1, sum: 0, buckets: 'x'.repeat(12) }),
      'kelpie:heartbeat: stats.statuses["200"].buckets must be an array of 12 counts, not a string of 12 characters',
    ],
    [
      'a bucket not a number',
      withStatus('500', { count: 1, sum: 0, buckets: [...Array(11).fill(0), 'x'] }),
      `kelpie:heartbeat: stats.statuses["500"].buckets[11] must be a whole number from 0 to ${max}, not a string of 1 characters`,
    ],
    [
      'accept count missing',
      { type: 'kelpie:accept' },
      'kelpie:accept: count must be a whole number from 1 to 1000000, not missing',
    ],
    [
      'accept count 0',
      { type: 'kelpie:accept', count: 0 },
      'kelpie:accept: count must be a whole number from 1 to 1000000, not 0',
    ],
    [
      'accept count fractional',
      { type: 'kelpie:accept', count: 0.5 },
      'kelpie:accept: count must be a whole number from 1 to 1000000, not 0.5',
    ],
    [
      'accept count huge',
      { type: 'kelpie:accept', count: MAX_ACCEPT_COUNT + 1 },
      'kelpie:accept: count must be a whole number from 1 to 1000000, not 1000001',
    ],
    [
      'accept count a string',
      { type: 'kelpie:accept', count: '5' },
      'kelpie:accept: count must be a whole number from 1 to 1000000, not a string of 1 characters',
    ],
    [
      'accept hold above the bound',
      { type: 'kelpie:accept', count: 2, hold: MAX_HOLD + 1 },
      'kelpie:accept: hold must be a whole number from 0 to 16, not 17',
    ],
    [
      'accept hold negative',
      { type: 'kelpie:accept', count: 2, hold: -1 },
      'kelpie:accept: hold must be a whole number from 0 to 16, not -1',
    ],
    [
      'accept hold fractional',
      { type: 'kelpie:accept', count: 2, hold: 0.5 },
      'kelpie:accept: hold must be a whole number from 0 to 16, not 0.5',
    ],
    [
      'accept hold a boolean',
      { type: 'kelpie:accept', count: 2, hold: true },
      'kelpie:accept: hold must be a whole number from 0 to 16, not true',
    ],
    [
      'accept hold null',
      { type: 'kelpie:accept', count: 2, hold: null },
      'kelpie:accept: hold must be a whole number from 0 to 16, not null',
    ],
    [
      'returned id negative',
      { type: 'kelpie:returned', id: -1 },
      'kelpie:returned: id must be the number of a held connection, not -1',
    ],
    [
      'returned id a string',
      { type: 'kelpie:returned', id: '3' },
      'kelpie:returned: id must be the number of a held connection, not a string of 1 characters',
    ],
    [
      'dup index negative',
      { type: 'kelpie:dup', listener: -1 },
      'kelpie:dup: listener must be the index of a listening socket, not -1',
    ],
    [
      'dup index a key',
      { type: 'kelpie:dup', listener: '__proto__' },
      'kelpie:dup: listener must be the index of a listening socket, not a string of 9 characters',
    ],
    [
      'dup index fractional',
      { type: 'kelpie:dup', listener: 0.5 },
      'kelpie:dup: listener must be the index of a listening socket, not 0.5',
    ],
    [
      'retiring without reason',
      { type: 'kelpie:retiring' },
      'kelpie:retiring: reason must be "crash" or "max_requests", not missing',
    ],
    [
      'listened without states',
      { type: 'kelpie:listened' },
      'kelpie:listened: states must be an array of at most 1024 states, not missing',
    ],
    [
      'listened, a state that is no error name',
      { type: 'kelpie:listened', states: ['ok', 'x\nFAKE LOG LINE'] },
      'kelpie:listened: states[1] must be "ok" or an error name, not "x\\nFAKE LOG LINE"',
    ],
    [
      'listened, a number',
      { type: 'kelpie:listened', states: [1] },
      'kelpie:listened: states[0] must be "ok" or an error name, not 1',
    ],
    [
      'retiring, another reason',
      { type: 'kelpie:retiring', reason: 'memory' },
      'kelpie:retiring: reason must be "crash" or "max_requests", not a string of 6 characters',
    ],
  ])('%s', (_name, message, error) => {
    expect(checkWorkerMessage(fromChannel(message))).toEqual({ ok: false, error });
  });

  it('checking reads no inherited field', () => {
    const proto = { count: 5 } as object;
    const message = Object.assign(Object.create(proto), { type: 'kelpie:accept' });
    expect(checkWorkerMessage(message)).toMatchObject({ ok: false });
  });
});

describe('status accumulators: no key reaches Object.prototype', () => {
  const poisoned = () =>
    JSON.parse(
      `{"__proto__": {"count": 5, "sum": 1, "buckets": []}, "constructor": {"count": 1, "sum": 1, "buckets": [1]}, "200": {"count": 1, "sum": 0.5, "buckets": [1]}}`,
    ) as Record<string, StatusStats>;

  it('addStatuses into a prototype-free record, or a plain one, keeps the keys its own', () => {
    for (const into of [statusTotals(), {} as Record<string, StatusStats>]) {
      addStatuses(into, poisoned());
      addStatuses(into, poisoned());
      expect(({} as Record<string, unknown>).count).toBeUndefined();
      expect(({} as Record<string, unknown>).buckets).toBeUndefined();
      expect(Object.keys(into).sort()).toEqual(['200', '__proto__', 'constructor']);
      expect(into['200']).toEqual({ count: 2, sum: 1, buckets: [2] });
      expect(Object.getOwnPropertyDescriptor(into, '__proto__')?.value).toEqual({ count: 10, sum: 2, buckets: [] });
    }
  });

  it('addStatusDelta: a prototype-free delta, and counters never go down', () => {
    const into = statusTotals();
    addStatusDelta(into, poisoned(), statusTotals());
    expect(({} as Record<string, unknown>).count).toBeUndefined();
    expect(Object.keys(into).sort()).toEqual(['200', '__proto__', 'constructor']);
    const lower = { '200': { count: 0, sum: 0, buckets: [0] } };
    addStatusDelta(into, lower, { '200': { count: 4, sum: 2, buckets: [4] } });
    expect(into['200']).toEqual({ count: 1, sum: 0.5, buckets: [1] });
  });
});

describe('BadMessageLog', () => {
  const capture = () => {
    const lines: string[] = [];
    const sink: LogSink = { write: (text: string) => lines.push(text) } as LogSink;
    return { lines, log: new Logger('info', sink) };
  };

  it('reports the first bad message of a worker, then at most one a second, counting the rest', () => {
    const { lines, log } = capture();
    const report = new BadMessageLog(log, 60_000);
    const worker = { pid: 1234 };
    report.drop(worker, 'first');
    for (let i = 0; i < 100; i++) report.drop(worker, 'again');
    report.drop({ pid: 99 }, 'another worker');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/\[WARNING\] Worker \(pid:1234\) sent a bad message, dropped it: first\n$/);
    expect(lines[1]).toMatch(/Worker \(pid:99\) sent a bad message, dropped it: another worker\n$/);
    const soon = new BadMessageLog(log, 0);
    soon.drop(worker, 'one');
    expect(lines.at(-1)).toMatch(/dropped it: one\n$/);
  });

  it('says how many were held back when it reports again', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const { lines, log } = capture();
      const report = new BadMessageLog(log, 1000);
      const worker = { pid: 7 };
      report.drop(worker, 'a');
      vi.advanceTimersByTime(500);
      report.drop(worker, 'b');
      report.drop(worker, 'c');
      expect(lines).toHaveLength(1);
      vi.advanceTimersByTime(500);
      report.drop(worker, 'd');
      expect(lines).toHaveLength(2);
      expect(lines[1]).toMatch(/dropped it: d \(and 2 more since the last report\)\n$/);
    } finally {
      vi.useRealTimers();
    }
  });
});
