import { describe, expect, it } from 'vitest';
import { maxRequestsShare, RequestCount } from './request-count.js';

describe('RequestCount', () => {
  it('counts, and calls onLimit once, with the request that reaches the limit', () => {
    let reached = 0;
    const count = new RequestCount(3, () => reached++);
    count.add();
    count.add();
    expect(reached).toBe(0);
    count.add();
    expect(reached).toBe(1);
    count.add();
    expect(count.value).toBe(4);
    expect(reached).toBe(1);
  });

  it('never reaches a limit of 0 (no --max-requests)', () => {
    let reached = 0;
    const count = new RequestCount(0, () => reached++);
    for (let i = 0; i < 100; i++) count.add();
    expect(count.value).toBe(100);
    expect(reached).toBe(0);
  });

  it('takes a count kept by the class itself (Worker.requests assigned)', () => {
    const count = new RequestCount(10, () => {});
    count.value = 7;
    expect(count.value).toBe(7);
    const shared = new RequestCount(10, () => {}, count.share());
    shared.value = 9;
    expect(count.value).toBe(9);
  });

  it('shared: every count over the same memory adds to one number, and the limit is seen once', () => {
    const reachedBy: string[] = [];
    const main = new RequestCount(5, () => reachedBy.push('main'));
    main.add();
    const memory = main.share();
    // Sharing keeps the count so far, and sharing again gives the same memory.
    expect(main.value).toBe(1);
    expect(main.share()).toBe(memory);
    const first = new RequestCount(5, () => reachedBy.push('first'), memory);
    const second = new RequestCount(5, () => reachedBy.push('second'), memory);
    first.add();
    second.add();
    first.add();
    second.add();
    first.add();
    expect(main.value).toBe(6);
    expect(reachedBy).toEqual(['second']);
  });
});

describe('maxRequestsShare', () => {
  it('is 0 without --max-requests, whatever the jitter', () => {
    expect(maxRequestsShare({ maxRequests: 0, maxRequestsJitter: 50 })).toBe(0);
  });

  it('adds 0..--max-requests-jitter to --max-requests', () => {
    const shares = new Set(
      Array.from({ length: 200 }, () => maxRequestsShare({ maxRequests: 10, maxRequestsJitter: 2 })),
    );
    for (const share of shares) expect([10, 11, 12]).toContain(share);
    expect(maxRequestsShare({ maxRequests: 10, maxRequestsJitter: 0 })).toBe(10);
  });
});
