import { afterEach, describe, expect, it, vi } from 'vitest';
import { heartbeatInterval, startHeartbeat } from './heartbeat.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('heartbeatInterval', () => {
  it('is a quarter of --timeout, between 50 ms and a second; once a second without a timeout', () => {
    expect(heartbeatInterval(30)).toBe(1000);
    expect(heartbeatInterval(2)).toBe(500);
    expect(heartbeatInterval(0.1)).toBe(50);
    expect(heartbeatInterval(0)).toBe(1000);
  });
});

describe('startHeartbeat', () => {
  it('beats at that pace and does not keep the event loop alive', () => {
    vi.useFakeTimers();
    let beats = 0;
    const timer = startHeartbeat(0.2, () => beats++);
    expect(timer.hasRef()).toBe(false);
    vi.advanceTimersByTime(149);
    expect(beats).toBe(2);
    vi.advanceTimersByTime(1);
    expect(beats).toBe(3);
    clearInterval(timer);
  });
});
