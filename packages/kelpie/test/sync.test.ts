import { connect } from 'node:net';
import { startKelpie, stopAll } from '@kelpie/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Facts, facts, fixture, started } from './helpers.js';

afterEach(stopAll);

describe('-k sync', () => {
  it('never runs two requests at once in one process, even when the handler awaits', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '2', fixture('concurrency-app.js')]);
    expect(kp.log()).toMatch(/Using worker: sync/);
    const replies = await Promise.all(Array.from({ length: 12 }, () => facts(`${kp.url}/work?ms=50`)));
    expect(replies.map((r) => r.status)).toEqual(Array(12).fill(200));
    for (const reply of replies) expect(reply.highest).toBe(1);
    expect(new Set(replies.map((r) => r.pid)).size).toBe(2);
    // Keep-alive would pin a worker: every response closes its connection.
    for (const reply of replies) expect(reply.connection).toBe('close');
  });

  it('gives four slow requests to four idle workers at once; a fifth waits for the first to finish', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '4', fixture('concurrency-app.js')]);
    const ms = 400;
    const replies = await Promise.all(Array.from({ length: 5 }, () => facts(`${kp.url}/work?ms=${ms}`)));
    const sorted = [...replies].sort((a, b) => a.at - b.at);
    const firstFour = sorted.slice(0, 4);
    const fifth = sorted[4] as (typeof sorted)[number];
    expect(new Set(firstFour.map((r) => r.pid)).size).toBe(4);
    // Each of the first four ran alone in its worker, right away: about one handler's time.
    for (const reply of firstFour) expect(reply.at).toBeLessThan(2 * ms - 50);
    // The fifth could only start once a worker was free.
    expect(fifth.at).toBeGreaterThanOrEqual(2 * ms - 20);
    expect(fifth.started).toBeGreaterThanOrEqual(Math.min(...firstFour.map((r) => r.ended)));
  });

  it('answers only the first of two pipelined requests and closes the connection', async () => {
    const kp = await startKelpie(['-k', 'sync', fixture('concurrency-app.js')]);
    const { port } = new URL(kp.url);
    const text = await new Promise<string>((resolve, reject) => {
      let data = '';
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('GET /work?ms=20 HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        data += chunk;
      });
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(1);
    expect(text).toMatch(/connection: close/i);
    expect((await facts(kp.url)).highest).toBe(1);
  });

  it('drops a connection that sends nothing after --timeout, and the worker serves the next one', async () => {
    const kp = await startKelpie(['-k', 'sync', '-t', '1', fixture('concurrency-app.js')]);
    const { port } = new URL(kp.url);
    const idle = connect(Number(port), '127.0.0.1');
    const closed = new Promise<void>((resolve) => idle.on('close', () => resolve()));
    idle.on('error', () => {});
    await new Promise<void>((resolve) => idle.once('connect', () => resolve()));
    const reply = facts(`${kp.url}/`);
    await closed;
    expect((await reply).status).toBe(200);
  });

  it('queues connections in the arbiter up to --backlog while every worker is busy, and closes the rest with a warning', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '1', '--backlog', '2', fixture('concurrency-app.js')]);
    const busy = await started(`${kp.url}/work?ms=1500&flush=1`);
    const more = await Promise.allSettled(Array.from({ length: 6 }, () => facts(`${kp.url}/work?ms=10`)));
    const served = more.filter((r) => r.status === 'fulfilled');
    const refused = more.filter((r) => r.status === 'rejected');
    // Two wait in the arbiter. Of the others, the kernel's queue (--backlog too) may drop a SYN
    // that the client then retries a second later, to be closed by the arbiter or, if the worker
    // is free by then, served: at least one is always closed.
    expect(served.length).toBeGreaterThanOrEqual(2);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(kp.log()).toMatch(
      /Every worker is busy and 2 connections \(--backlog\) are waiting: closed \d+ new connection\(s\)/,
    );
    expect(JSON.parse(await busy.body)).toMatchObject({ highest: 1 });
  });

  it('gives a connection held behind a long request back to a worker that goes idle', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '2', fixture('concurrency-app.js')]);
    let longDone = false;
    const long = await started(`${kp.url}/work?ms=3000&flush=1`);
    const longBody = long.body.then((body) => {
      longDone = true;
      return JSON.parse(body) as Facts;
    });
    const short = await started(`${kp.url}/work?ms=300&flush=1`);
    // Both workers serve: this one is lent to one of them to hold, unread.
    const next = await facts(`${kp.url}/work?ms=10`);
    // It did not wait for the long request: the worker that finished the short one took it.
    expect(longDone).toBe(false);
    const first = await longBody;
    expect(next.pid).toBe((JSON.parse(await short.body) as Facts).pid);
    expect(next.pid).not.toBe(first.pid);
    for (const reply of [next, first]) expect(reply.highest).toBe(1);
  });

  it('hands the connection a retiring worker holds to its replacement on HUP', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '1', fixture('concurrency-app.js')]);
    const long = await started(`${kp.url}/work?ms=1500&flush=1`);
    const next = facts(`${kp.url}/work?ms=10`);
    kp.signal('SIGHUP');
    const [held, first] = await Promise.all([next, long.body.then((body) => JSON.parse(body) as Facts)]);
    expect(held.status).toBe(200);
    expect(held.pid).not.toBe(first.pid);
    expect(kp.log()).not.toMatch(/exited holding/);
  });

  it('closes a held connection on TERM with a log line, and finishes the request in progress', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '1', fixture('concurrency-app.js')]);
    const slow = await started(`${kp.url}/work?ms=800&flush=1`);
    const { port } = new URL(kp.url);
    const held = connect(Number(port), '127.0.0.1');
    const closed = new Promise<string>((resolve) => {
      let data = '';
      held.setEncoding('utf8');
      held.on('data', (chunk: string) => {
        data += chunk;
      });
      held.on('close', () => resolve(data));
    });
    held.on('error', () => {});
    await new Promise<void>((resolve) => held.once('connect', () => resolve()));
    held.write('GET /work?ms=10 HTTP/1.1\r\nHost: x\r\n\r\n');
    kp.signal('SIGTERM');
    expect(slow.status).toBe(200);
    expect((JSON.parse(await slow.body) as Facts).highest).toBe(1);
    // Closed unanswered, and said so: never served by a worker that stops, nor lost silently.
    expect(await closed).toBe('');
    expect(await kp.exited()).toMatchObject({ code: 0 });
    expect(kp.log()).toMatch(/Closing 1 connection\(s\) no worker had taken yet|exited holding 1 connection/);
  });

  it('finishes the request in progress on TERM, then exits', async () => {
    const kp = await startKelpie(['-k', 'sync', '-w', '2', fixture('concurrency-app.js')]);
    const slow = await started(`${kp.url}/work?ms=600&flush=1`);
    kp.signal('SIGTERM');
    const reply = JSON.parse(await slow.body) as Facts;
    expect(slow.status).toBe(200);
    expect(reply.highest).toBe(1);
    expect(await kp.exited()).toMatchObject({ code: 0 });
  });
});
