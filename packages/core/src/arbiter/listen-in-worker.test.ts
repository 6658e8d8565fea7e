import { describe, expect, it } from 'vitest';
import { ListenInWorker } from './listen-in-worker.js';
import type { Listener } from './listeners.js';

const listeners = [{ fd: 10 }, { fd: 11 }] as unknown as Listener[];

describe('ListenInWorker', () => {
  it('gives the spares to the first worker spawned only, and takes its report', async () => {
    const inWorker = new ListenInWorker(listeners);
    expect(inWorker.claim()).toBe(listeners);
    expect(inWorker.claim()).toBeUndefined();
    inWorker.spawned(100);
    inWorker.reported(101, ['EADDRINUSE', 'ok']);
    inWorker.exited(101);
    inWorker.reported(100, ['ok', 'EADDRINUSE']);
    inWorker.exited(100);
    expect(await inWorker.states).toEqual(['ok', 'EADDRINUSE']);
  });

  it('has no report (the helper listens) when that worker could not be spawned, exited first, or reported another count', async () => {
    const unspawned = new ListenInWorker(listeners);
    unspawned.claim();
    unspawned.spawned(undefined);
    expect(await unspawned.states).toBeUndefined();

    const exited = new ListenInWorker(listeners);
    exited.claim();
    exited.spawned(100);
    exited.exited(100);
    exited.reported(100, ['ok', 'ok']);
    expect(await exited.states).toBeUndefined();

    const miscounted = new ListenInWorker(listeners);
    miscounted.claim();
    miscounted.spawned(100);
    miscounted.reported(100, ['ok']);
    expect(await miscounted.states).toBeUndefined();
  });
});
