import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultBin, type KelpieProcess, startKelpie, stopAll, waitUntil } from '@kelpie/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixture, get } from './helpers.js';

// Privilege boundaries: workers may run as another user (-u) while the arbiter is root. Such a
// user can plant links in a folder it owns and can send anything on its IPC channel; neither may
// make the arbiter write another file or stop.

const dir = mkdtempSync(join(tmpdir(), 'kelpie-privilege-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the pidfile is never written or read through a symbolic link', () => {
  afterEach(stopAll);

  /** kelpie started through a wrapper that first plants `links` ("{pid}": the arbiter's pid). */
  const startPlanting = (args: string[], links: { target: string; path: string }[], waitFor?: 'nothing') =>
    startKelpie(args, {
      bin: fixture('plant-links.mjs'),
      env: { PLANT_LINKS: JSON.stringify(links), KELPIE_REAL_BIN: defaultBin() },
      ...(waitFor ? { waitFor } : {}),
    });

  it('a link planted at the temporary name the arbiter once used (FILE.PID.tmp) is not written through', async () => {
    const folder = mkdtempSync(join(dir, 'tmp-link-'));
    const victim = join(folder, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const pidfile = join(folder, 'app.pid');
    const kp = await startPlanting(
      ['-w', '1', '-p', pidfile, fixture('pid-app.js')],
      [{ target: victim, path: `${pidfile}.{pid}.tmp` }],
    );
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    expect(lstatSync(pidfile).isFile()).toBe(true);
    expect(readFileSync(pidfile, 'utf8')).toBe(`${kp.pid}\n`);
    // Only the planted link is left next to the pidfile: no temporary file of the arbiter's.
    expect(readdirSync(folder).sort()).toEqual(['app.pid', `app.pid.${kp.pid}.tmp`, 'victim.txt']);
    expect(await kp.stop()).toEqual({ code: 0, signal: null });
    expect(readdirSync(folder).sort()).toEqual([`app.pid.${kp.pid}.tmp`, 'victim.txt']);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });

  it('a link at the pidfile path: kelpie refuses to start, naming it, and leaves the link and its target alone', async () => {
    const folder = mkdtempSync(join(dir, 'pid-link-'));
    const victim = join(folder, 'victim.txt');
    writeFileSync(victim, 'precious\n');
    const pidfile = join(folder, 'app.pid');
    const kp = await startPlanting(
      ['-w', '1', '-p', pidfile, fixture('pid-app.js')],
      [{ target: victim, path: pidfile }],
      'nothing',
    );
    expect(await kp.exited()).toEqual({ code: 1, signal: null });
    expect(kp.log()).toMatch(/\[ERROR\] The pid file \S+\/app\.pid is a symbolic link: refusing to start/);
    expect(kp.log()).not.toMatch(/Listening at/);
    expect(readlinkSync(pidfile)).toBe(victim);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  });
});

describe('messages from workers are untrusted input', () => {
  let kp: KelpieProcess;
  let metricsUrl: string;
  beforeAll(async () => {
    kp = await startKelpie(['-w', '1', '--metrics-bind', '127.0.0.1:0', fixture('hostile-worker-app.mjs')]);
    metricsUrl = (await kp.waitForLog(/Metrics at: (http:\/\/\S+\/metrics)/))[1] as string;
  });
  afterAll(stopAll);

  const send = (body: Record<string, unknown>) =>
    get(`${kp.url}/send`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'text/plain' } });
  const servingPid = async () => (await get(kp.url)).body;
  const arbiterAlive = () => {
    process.kill(kp.pid, 0);
    return true;
  };
  /** /metrics renders, with nothing that is not a number where numbers go. */
  const metricsSane = async () => {
    const reply = await get(metricsUrl);
    expect(reply.status, reply.body).toBe(200);
    expect(reply.body).toMatch(/^kelpie_workers 1$/m);
    expect(reply.body).not.toMatch(/NaN|Infinity|undefined|null/);
    return reply.body;
  };

  const statuses = (value: unknown) => ({ requests: 1, inFlight: 0, rss: 50_000_000, lag: 0, statuses: value });
  const buckets = Array(12).fill(0);
  const heartbeat = (stats: unknown) => ({ type: 'kelpie:heartbeat', stats });
  // Each is sent by a worker that is then killed: its exit puts its last report into the totals.
  const cases: [string, unknown, RegExp][] = [
    [
      'a null status',
      heartbeat(statuses({ '200': null })),
      /kelpie:heartbeat: stats\.statuses\["200"\] must be an object, not null/,
    ],
    [
      'a __proto__ status key',
      heartbeat(statuses(JSON.parse(`{"__proto__": {"count": 5, "sum": 1, "buckets": ${JSON.stringify(buckets)}}}`))),
      /kelpie:heartbeat: stats\.statuses has a key "__proto__" that is not a status code/,
    ],
    [
      'a huge count',
      heartbeat(statuses({ '200': { count: 1e300, sum: 1, buckets } })),
      /kelpie:heartbeat: stats\.statuses\["200"\]\.count must be a whole number from 0 to 9007199254740991, not 1e\+300/,
    ],
    [
      'a negative count',
      heartbeat({ ...statuses(undefined), inFlight: -5 }),
      /kelpie:heartbeat: stats\.inFlight must be .*, not -5/,
    ],
    [
      'a string for a number',
      heartbeat({ ...statuses(undefined), rss: 'lots' }),
      /kelpie:heartbeat: stats\.rss must be .*, not a string/,
    ],
    [
      'too many buckets',
      heartbeat(statuses({ '200': { count: 1, sum: 1, buckets: Array(100_000).fill(1) } })),
      /kelpie:heartbeat: stats\.statuses\["200"\]\.buckets must be an array of 12 counts, not an array of 100000/,
    ],
    [
      'a kelpie:accept count out of range',
      { type: 'kelpie:accept', count: 1e12 },
      /kelpie:accept: count must be a whole number from 1 to 1000000, not 1000000000000/,
    ],
    [
      'a kelpie:dup index that is not a number',
      { type: 'kelpie:dup', listener: '__proto__' },
      /kelpie:dup: listener must be .*, not a string/,
    ],
    ['a kelpie:dup index of no listener', { type: 'kelpie:dup', listener: 7 }, /kelpie:dup: no listener 7 \(1 open\)/],
    [
      'a kelpie:retiring reason not known',
      { type: 'kelpie:retiring', reason: 'x'.repeat(10_000) },
      /kelpie:retiring: reason must be "crash" or "max_requests", not a string of 10000 characters/,
    ],
    [
      'an unknown type, very long',
      { type: `kelpie:${'\n[CRITICAL] forged line'.repeat(5000)}` },
      /unknown message type "kelpie:\\n\[CRITICAL\] forged line\\n[^"]*" \(115007 characters\)/,
    ],
  ];

  it.each(cases)('%s: dropped and logged; the arbiter survives the worker and /metrics renders', async (_n, m, why) => {
    const before = kp.log().length;
    const pid = await servingPid();
    await send({ message: m, die: true }).catch(() => {});
    await kp.waitForLog(
      new RegExp(`\\[WARNING\\] Worker \\(pid:${pid}\\) sent a bad message, dropped it: ${why.source}`),
      {
        from: before,
      },
    );
    // A replacement serves, and the arbiter is still there.
    await waitUntil(async () => (await servingPid().catch(() => pid)) !== pid, { what: 'a replacement worker' });
    expect(arbiterAlive()).toBe(true);
    await metricsSane();
    // Nothing forged: the log has no line the worker wrote for the arbiter.
    expect(kp.log()).not.toMatch(/^\[CRITICAL\] forged line/m);
  });

  it('a bad report from a live worker is not kept: /metrics still renders, the same worker serves', async () => {
    const pid = await servingPid();
    const reply = await send({ message: heartbeat(statuses({ '200': null, '500': 'x' })) });
    expect(reply.status).toBe(200);
    await metricsSane();
    expect(await servingPid()).toBe(pid);
  });

  it('a flood of bad messages is logged at most once a second per worker, with the count of the rest', async () => {
    const before = kp.log().length;
    const pid = await servingPid();
    await send({ message: { type: 'kelpie:accept', count: -1 }, repeat: 500 });
    const line = new RegExp(`Worker \\(pid:${pid}\\) sent a bad message`, 'g');
    // One more now and then, until the report that counts the ones held back (the first of the
    // flood may itself be held back, after the previous test's report).
    const summary = await waitUntil(
      async () => {
        await send({ message: { type: 'kelpie:accept', count: -1 } });
        return /\(and (\d+) more since the last report\)/.exec(kp.log().slice(before));
      },
      { intervalMs: 200, timeoutMs: 15_000, what: 'the report of the dropped messages held back' },
    );
    expect(Number(summary[1])).toBeGreaterThanOrEqual(499);
    expect(kp.log().slice(before).match(line)?.length).toBeLessThanOrEqual(3);
    expect(await servingPid()).toBe(pid);
  });

  it('a descriptor a worker sends is closed at once (the arbiter never asks a worker for one)', async () => {
    const fds = () => readdirSync(`/proc/${kp.pid}/fd`).length;
    const baseline = fds();
    // Node sends a descriptor only once the previous one was acknowledged: when the reply comes,
    // the arbiter holds at least 99 of them (before they were closed, its count grew by 100).
    await send({ message: { type: 'kelpie:ready' }, handle: true, repeat: 100 });
    await waitUntil(() => fds() <= baseline + 10, {
      timeoutMs: 10_000,
      what: `the arbiter's descriptors (${fds()}, baseline ${baseline})`,
    });
    expect(arbiterAlive()).toBe(true);
    await metricsSane();
  });
});
