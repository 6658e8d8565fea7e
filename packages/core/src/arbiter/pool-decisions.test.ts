import { describe, expect, it } from 'vitest';
import { ExitCode } from '../exit-codes.js';
import {
  bootFailure,
  crashLoopDelay,
  drainDeadlineMs,
  exitLogLine,
  heartbeatCheckInterval,
  heartbeatVerdict,
  MEMORY_GRACE_MS,
  memoryVerdict,
  ordinal,
  outdatedToRetire,
  planSpawns,
  restartReason,
  SPAWN_BATCH,
  slotForNewWorker,
  spawnBatch,
  surplusWorkers,
} from './pool-decisions.js';

/** A worker as the pool's decisions see it. */
const worker = (
  age: number,
  fields: Partial<{ outdated: boolean; retiring: boolean; ready: boolean; slot: number }> = {},
) => ({
  age,
  outdated: false,
  retiring: false,
  ready: true,
  slot: age - 1,
  ...fields,
});

describe('how many workers to start', () => {
  it('spawns what is missing, counting the restarts the backoff holds back', () => {
    expect(planSpawns(4, 1, 0)).toEqual({ spawn: 3, cancelDelayed: 0 });
    expect(planSpawns(4, 1, 2)).toEqual({ spawn: 1, cancelDelayed: 0 });
    expect(planSpawns(4, 4, 0)).toEqual({ spawn: 0, cancelDelayed: 0 });
  });

  it('fewer workers wanted: held-back restarts are cancelled first, then the rest is surplus', () => {
    expect(planSpawns(2, 2, 3)).toEqual({ spawn: 0, cancelDelayed: 3 });
    expect(planSpawns(2, 1, 3)).toEqual({ spawn: 0, cancelDelayed: 2 });
    // Still too many after every restart is cancelled: nothing to spawn (scale-down retires the rest).
    expect(planSpawns(1, 3, 1)).toEqual({ spawn: -2, cancelDelayed: 1 });
  });

  it(`spawns at most ${SPAWN_BATCH} per turn of the event loop`, () => {
    expect(spawnBatch(2)).toEqual({ now: 2, more: false });
    expect(spawnBatch(SPAWN_BATCH)).toEqual({ now: SPAWN_BATCH, more: false });
    expect(spawnBatch(100)).toEqual({ now: SPAWN_BATCH, more: true });
    expect(spawnBatch(-3)).toEqual({ now: 0, more: false });
  });
});

describe('which workers leave', () => {
  it('TTOU and scale-down retire the oldest first, as Gunicorn', () => {
    const workers = [worker(5), worker(2), worker(9), worker(7)];
    expect(surplusWorkers(workers, 2).map((w) => w.age)).toEqual([2, 5]);
    expect(surplusWorkers(workers, 4)).toEqual([]);
    expect(surplusWorkers(workers, 0).map((w) => w.age)).toEqual([2, 5, 7, 9]);
  });

  it('after HUP, one outdated worker leaves for each ready new one', () => {
    const old = [worker(1, { outdated: true }), worker(2, { outdated: true }), worker(3, { outdated: true })];
    const booting = [worker(4, { ready: false }), worker(5, { ready: false }), worker(6, { ready: false })];
    expect(outdatedToRetire([...old, ...booting], 3)).toEqual([]);
    const oneReady = [worker(4), worker(5, { ready: false }), worker(6, { ready: false })];
    expect(outdatedToRetire([...old, ...oneReady], 3).map((w) => w.age)).toEqual([1]);
    const allReady = [worker(4), worker(5), worker(6)];
    expect(outdatedToRetire([...old, ...allReady], 3).map((w) => w.age)).toEqual([1, 2, 3]);
  });

  it('outdated workers still booting (a second HUP) leave before the ones that serve', () => {
    const workers = [
      worker(1, { outdated: true }),
      worker(2, { outdated: true, ready: false }),
      worker(3, { outdated: true, retiring: true }),
      worker(4),
    ];
    expect(outdatedToRetire(workers, 2).map((w) => w.age)).toEqual([2]);
  });
});

describe('worker slots', () => {
  it('a new worker takes the lowest slot no current worker holds', () => {
    expect(slotForNewWorker([])).toBe(0);
    expect(slotForNewWorker([worker(1, { slot: 0 }), worker(2, { slot: 2 })])).toBe(1);
    expect(slotForNewWorker([worker(1, { slot: 0 }), worker(2, { slot: 1 })])).toBe(2);
  });

  it('a replacement takes the slot its retiring or outdated predecessor leaves', () => {
    const workers = [
      worker(1, { slot: 0, retiring: true }),
      worker(2, { slot: 1 }),
      worker(3, { slot: 2, outdated: true }),
    ];
    expect(slotForNewWorker(workers)).toBe(0);
    expect(slotForNewWorker(workers.slice(1))).toBe(0);
    expect(slotForNewWorker([worker(2, { slot: 0 }), worker(3, { slot: 2, outdated: true })])).toBe(1);
  });
});

describe('crash-loop backoff', () => {
  const settings = { workerMinUptime: 1, workerRestartDelay: 0.1, workerRestartDelayMax: 1 };
  const young = { outdated: false, quickExits: 0 };

  it('a worker that lived long enough is replaced at once and starts a new count', () => {
    expect(crashLoopDelay(settings, young, 1000)).toBeNull();
    expect(crashLoopDelay(settings, { ...young, quickExits: 5 }, 5000)).toBeNull();
  });

  it('grows by 1.5 per quick exit in a row of its slot, up to the maximum', () => {
    const delays = [0, 1, 2, 3, 4, 5, 6, 10].map((n) => crashLoopDelay(settings, { ...young, quickExits: n }, 10));
    expect(delays.map((d) => d?.quickExits)).toEqual([1, 2, 3, 4, 5, 6, 7, 11]);
    expect(delays.map((d) => Number(d?.delay.toFixed(4)))).toEqual([0.1, 0.15, 0.225, 0.3375, 0.5062, 0.7594, 1, 1]);
  });

  it('is off with --worker-restart-delay 0, and for a generation a reload replaces', () => {
    expect(crashLoopDelay({ ...settings, workerRestartDelay: 0 }, young, 10)).toBeNull();
    expect(crashLoopDelay(settings, { ...young, outdated: true }, 10)).toBeNull();
  });

  it('names the count', () => {
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal)).toEqual([
      '1st',
      '2nd',
      '3rd',
      '4th',
      '11th',
      '12th',
      '13th',
      '21st',
      '22nd',
      '101st',
      '111th',
    ]);
  });
});

describe('heartbeat (--timeout)', () => {
  const fresh = { lastBeat: 10_000, abortedAt: null, killedAfterTimeout: false };

  it('checks a quarter of the timeout, within 0.1 to 1 s', () => {
    expect(heartbeatCheckInterval(0.2)).toBe(100);
    expect(heartbeatCheckInterval(2)).toBe(500);
    expect(heartbeatCheckInterval(30)).toBe(1000);
  });

  it('a beat within the limit is fine; a missed one is SIGABRT, then SIGKILL a second later', () => {
    expect(heartbeatVerdict(fresh, 12_000, 2000)).toBeNull();
    expect(heartbeatVerdict(fresh, 12_001, 2000)).toBe('abort');
    const aborted = { ...fresh, abortedAt: 12_001 };
    expect(heartbeatVerdict(aborted, 12_500, 2000)).toBeNull();
    expect(heartbeatVerdict(aborted, 13_001, 2000)).toBe('kill');
    expect(heartbeatVerdict({ ...aborted, killedAfterTimeout: true }, 20_000, 2000)).toBeNull();
  });

  it('the SIGKILL comes sooner under a timeout below a second', () => {
    expect(heartbeatVerdict({ ...fresh, abortedAt: 10_600 }, 11_099, 500)).toBeNull();
    expect(heartbeatVerdict({ ...fresh, abortedAt: 10_600 }, 11_100, 500)).toBe('kill');
  });
});

describe('memory (--max-worker-memory)', () => {
  const mb = 1024 * 1024;
  const limit = 100 * mb;

  it(`replaces a worker above the limit for ${MEMORY_GRACE_MS / 1000} s in a row`, () => {
    const over = { retiring: false, rss: 150 * mb, overMemorySince: null };
    expect(memoryVerdict(over, limit, 1000)).toEqual({ overMemorySince: 1000, replace: false });
    expect(memoryVerdict({ ...over, overMemorySince: 1000 }, limit, 5999)).toEqual({
      overMemorySince: 1000,
      replace: false,
    });
    expect(memoryVerdict({ ...over, overMemorySince: 1000 }, limit, 6000)).toEqual({
      overMemorySince: 1000,
      replace: true,
    });
  });

  it('a worker back under the limit, retiring, or without a limit starts over', () => {
    const since = { overMemorySince: 1000 };
    expect(memoryVerdict({ retiring: false, rss: limit, ...since }, limit, 9000)).toEqual({
      overMemorySince: null,
      replace: false,
    });
    expect(memoryVerdict({ retiring: true, rss: 2 * limit, ...since }, limit, 9000).replace).toBe(false);
    expect(memoryVerdict({ retiring: false, rss: 2 * limit, ...since }, 0, 9000).replace).toBe(false);
  });
});

describe('exits', () => {
  const gone = { abortedAt: null, killedAfterTimeout: false, retiring: false, retireReason: null };

  it('gives the restart reason /metrics counts', () => {
    expect(restartReason({ ...gone, abortedAt: 1 }, null, 'SIGKILL')).toBe('timeout');
    expect(restartReason({ ...gone, retiring: true, retireReason: 'reload' }, 0, null)).toBe('reload');
    expect(restartReason({ ...gone, retiring: true, retireReason: 'max_requests' }, 0, null)).toBe('max_requests');
    expect(restartReason({ ...gone, retiring: true, retireReason: 'scale' }, 0, null)).toBeNull();
    expect(restartReason({ ...gone, retiring: true }, 0, null)).toBeNull();
    expect(restartReason(gone, null, 'SIGSEGV')).toBe('signal');
    expect(restartReason(gone, 0, null)).toBe('exit');
    expect(restartReason(gone, 1, null)).toBe('crash');
  });

  it("says what docs/signals.md's table says", () => {
    const w = {
      pid: 7,
      retiring: false,
      killedAfterTimeout: false,
      killedAfterDrain: false,
      killedAfterGraceful: false,
    };
    expect(exitLogLine({ ...w, killedAfterTimeout: true }, null, 'SIGKILL', false)).toEqual({
      level: 'error',
      message: 'Worker (pid:7) was sent SIGKILL after WORKER TIMEOUT',
    });
    expect(exitLogLine({ ...w, killedAfterDrain: true }, null, 'SIGKILL', false)?.message).toBe(
      'Worker (pid:7) was sent SIGKILL after its drain deadline (it said it was retiring)',
    );
    expect(exitLogLine({ ...w, killedAfterGraceful: true }, null, 'SIGKILL', true)?.level).toBe('warning');
    expect(exitLogLine(w, null, 'SIGKILL', false)?.message).toBe(
      'Worker (pid:7) was sent SIGKILL! Perhaps out of memory?',
    );
    expect(exitLogLine(w, null, 'SIGTERM', false)).toEqual({
      level: 'info',
      message: 'Worker (pid:7) was sent SIGTERM!',
    });
    expect(exitLogLine(w, null, 'SIGSEGV', false)).toEqual({
      level: 'warning',
      message: 'Worker (pid:7) was sent SIGSEGV!',
    });
    expect(exitLogLine({ ...w, retiring: true }, null, 'SIGTERM', false)).toBeUndefined();
    expect(exitLogLine(w, 2, null, false)).toEqual({ level: 'error', message: 'Worker (pid:7) exited with code 2' });
    expect(exitLogLine(w, 2, null, true)).toBeUndefined();
    expect(exitLogLine(w, 0, null, false)).toBeUndefined();
  });

  it('a worker that cannot boot or load the app halts the server, with the reason', () => {
    expect(bootFailure(ExitCode.WORKER_BOOT_ERROR)).toBe('Worker failed to boot.');
    expect(bootFailure(ExitCode.APP_LOAD_ERROR)).toBe('App failed to load.');
    expect(bootFailure(1)).toBeUndefined();
    expect(bootFailure(null)).toBeUndefined();
  });

  it('a retiring worker is killed a second after its drain deadline (5 s at most after a crash)', () => {
    expect(drainDeadlineMs(false, 30)).toBe(31_000);
    expect(drainDeadlineMs(true, 30)).toBe(6000);
    expect(drainDeadlineMs(true, 2)).toBe(3000);
  });
});
