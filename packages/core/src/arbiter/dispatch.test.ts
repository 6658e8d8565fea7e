import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import type { ArbiterContext } from './context.js';
import { ArbiterDispatch } from './dispatch.js';
import type { ClientHandle } from './listeners.js';
import { newWorkerRecord, type WorkerRecord } from './worker-record.js';

// The arbiter's dispatch for `accept = 'arbiter'` classes, with fake workers that record what
// they are sent, in one list for all, in the order it was sent.

interface Sent {
  pid: number;
  type: string;
  held?: number;
}

function setup() {
  const sent: Sent[] = [];
  const workers = new Map<number, WorkerRecord>();
  let accepted: ((client: ClientHandle) => void) | undefined;
  const closed = new Set<ClientHandle>();
  const ctx = {
    settings: { backlog: 100, sticky: false },
    options: { worker: { workerClass: { accept: 'arbiter' } } },
    listeners: [
      {
        url: 'http://127.0.0.1:1',
        address: { kind: 'tcp' },
        accept: (onConnection: (client: ClientHandle) => void) => {
          accepted = onConnection;
        },
      },
    ],
    workers,
    running: true,
    log: new Logger('error', { write: () => true } as never),
  } as unknown as ArbiterContext;
  const dispatch = new ArbiterDispatch(ctx);
  dispatch.start();
  const worker = (pid: number): WorkerRecord => {
    const child = {
      pid,
      send(message: { type: string; held?: number }, _handle: unknown, a?: unknown, b?: unknown) {
        sent.push({ pid, type: message.type, ...(message.held === undefined ? {} : { held: message.held }) });
        const callback = (typeof a === 'function' ? a : b) as ((error: Error | null) => void) | undefined;
        callback?.(null);
        return true;
      },
    };
    const record = newWorkerRecord(child as never, { age: pid, generation: 0, quickExits: 0, slot: pid });
    workers.set(pid, record);
    return record;
  };
  /** A client connects: the arbiter accepts it. */
  const client = (): ClientHandle => {
    const handle = { close: () => closed.add(handle) };
    accepted?.(handle);
    return handle;
  };
  /** Two workers like -k sync's (one connection to serve, one to hold: `hold` 1), each serving one. */
  const twoServing = () => {
    const a = worker(1);
    const b = worker(2);
    a.hold = 1;
    b.hold = 1;
    dispatch.credits(a, 2);
    dispatch.credits(b, 2);
    client();
    client();
    return { a, b };
  };
  return { dispatch, sent, worker, client, closed, twoServing };
}

describe('ArbiterDispatch: held connections', () => {
  it('lends only to a worker that said it holds, and only while none is idle', () => {
    const { sent, client, twoServing } = setup();
    const { a } = twoServing();
    // Each idle worker got one to serve: none lent.
    expect(sent).toEqual([
      { pid: 1, type: 'kelpie:connection' },
      { pid: 2, type: 'kelpie:connection' },
    ]);
    client();
    expect(sent[2]).toMatchObject({ pid: 1, type: 'kelpie:connection', held: expect.any(Number) });
    expect(a.lent).toHaveLength(1);
  });

  it('never lends to a worker that asks irregularly without saying it holds', () => {
    const { dispatch, sent, worker, client } = setup();
    const a = worker(1);
    dispatch.credits(a, 1);
    client();
    dispatch.credits(a, 3);
    client();
    client();
    dispatch.credits(a, 1);
    expect(sent.map((s) => s.type)).toEqual(Array(3).fill('kelpie:connection'));
    for (const s of sent) expect(s.held).toBeUndefined();
    expect(a.lent).toHaveLength(0);
  });

  it('sends the release after the connection it lent, and again after a connection lent later', () => {
    const { dispatch, sent, client, closed, twoServing } = setup();
    const { a, b } = twoServing();
    const lent = client();
    const id = (sent[2] as Sent).held as number;
    // B finishes its request and waits with nothing queued: A is asked to give back what it holds,
    // after the connection, on the same channel.
    dispatch.credits(b, 1);
    expect(sent.slice(2)).toEqual([
      { pid: 1, type: 'kelpie:connection', held: id },
      { pid: 1, type: 'kelpie:release' },
    ]);
    // Before A's answer comes, B is busy again: one to serve, one lent to hold.
    client();
    client();
    expect(sent.slice(4)).toEqual([
      { pid: 2, type: 'kelpie:connection' },
      { pid: 2, type: 'kelpie:connection', held: expect.any(Number) },
    ]);
    // A gives it back: A is the one with a credit left, and is lent it again, to hold.
    dispatch.returned(a, id);
    expect(closed.has(lent)).toBe(false);
    expect(sent[6]).toMatchObject({ pid: 1, type: 'kelpie:connection', held: expect.any(Number) });
    // B starts what it held (still serving), then finishes it: idle, so A is asked again.
    dispatch.credits(b, 1);
    expect(sent).toHaveLength(7);
    dispatch.credits(b, 1);
    expect(sent[7]).toEqual({ pid: 1, type: 'kelpie:release' });
  });

  it("closes the arbiter's descriptor of a lent connection at the holder's next accept", () => {
    const { dispatch, sent, worker, client, closed } = setup();
    const a = worker(1);
    a.hold = 1;
    dispatch.credits(a, 2);
    const first = client();
    const held = client();
    expect(sent.map((s) => s.held === undefined)).toEqual([true, false]);
    expect(closed.has(first)).toBe(true);
    expect(closed.has(held)).toBe(false);
    dispatch.credits(a, 1);
    expect(closed.has(held)).toBe(true);
    expect(a.lent).toHaveLength(0);
  });
});

// The dispatch sends `kelpie:release` after every connection it lent to that worker before, and
// relies on the worker seeing them in that order. Node's IPC channel keeps it: a message sent after
// a descriptor waits for the descriptor's acknowledgement, and the receiver emits the descriptor's
// message before it reads on. This checks that the Node in use does.
describe("Node's IPC channel keeps the order of a descriptor and a message sent after it", () => {
  let child: ChildProcess | undefined;
  afterEach(() => child?.kill());

  it('delivers every release after the connection sent before it', async () => {
    const rounds = 200;
    const code = `let last = -1, wrong = 0;
      process.on('message', (m, handle) => {
        if (m.type === 'connection') { handle.close(); last = m.i; }
        else if (m.type === 'release' && m.i !== last) wrong++;
        if (m.type === 'done') process.send({ wrong });
      });`;
    child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const running = child;
    const server = createServer({ pauseOnConnect: true }, (socket: Socket) => {
      const i = sent++;
      const handle = (socket as Socket & { _handle: object })._handle;
      running.send({ type: 'connection', i }, handle as never, () => socket.destroy());
      running.send({ type: 'release', i });
      if (i === rounds - 1) running.send({ type: 'done' });
    });
    let sent = 0;
    const answer = new Promise<{ wrong: number }>((resolve) => running.once('message', resolve as never));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    for (let i = 0; i < rounds; i++) {
      await new Promise<void>((resolve, reject) => {
        const socket = netConnect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve();
        });
        socket.on('error', reject);
      });
    }
    expect(await answer).toEqual({ wrong: 0 });
    server.close();
  });
});
