import { describe, expect, it } from 'vitest';
import { openFilesLimit, openFilesWarning, parseOpenFilesLimit } from './descriptors.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             96367                96367                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

const budget = { workerClass: 'async', arbiterAccepts: false, workerConnections: 1000, threads: 1, backlog: 2048 };

describe('the descriptor limit', () => {
  it('reads the soft limit of /proc/self/limits; unlimited or absent is no limit', () => {
    expect(parseOpenFilesLimit(LIMITS)).toBe(1024);
    expect(parseOpenFilesLimit(LIMITS.replace('1024 ', 'unlimited'))).toBeUndefined();
    expect(parseOpenFilesLimit('Limit Soft Limit\n')).toBeUndefined();
  });

  it("reads this process's limit where the platform says it", () => {
    const limit = openFilesLimit();
    if (process.platform === 'linux') expect(limit).toBeGreaterThan(0);
  });

  it('warns when --worker-connections × threads is above the limit, naming both numbers and the fix', () => {
    expect(openFilesWarning(budget, 1024)).toBeUndefined();
    expect(openFilesWarning(budget, 256)).toMatch(
      /^--worker-connections 1000 connections per worker is above this process's limit of 256 open files.*`ulimit -n`.*`LimitNOFILE=`/,
    );
    // --threads counts only under -k threads.
    expect(openFilesWarning({ ...budget, threads: 4 }, 1024)).toBeUndefined();
    expect(openFilesWarning({ ...budget, workerClass: 'threads', threads: 4 }, 1024)).toMatch(
      /--worker-connections 1000 × --threads 4 = 4000 connections per worker is above this process's limit of 1024/,
    );
  });

  it('under -k sync, the arbiter queues up to --backlog connections: that is what must fit', () => {
    const sync = { ...budget, workerClass: 'sync', arbiterAccepts: true };
    expect(openFilesWarning(sync, 4096)).toBeUndefined();
    expect(openFilesWarning({ ...sync, workerConnections: 100_000 }, 4096)).toBeUndefined();
    expect(openFilesWarning(sync, 1024)).toMatch(/--backlog 2048: .* limit of 1024 open files/);
  });
});
