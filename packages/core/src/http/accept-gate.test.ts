import { describe, expect, it } from 'vitest';
import { BurstWindow, SPREAD_BURST, SPREAD_WINDOW_MS } from './accept-gate.js';

describe('spreading a burst of new connections (BurstWindow)', () => {
  it('is a burst when open connections grow by SPREAD_BURST within the window, then starts over', () => {
    const window = new BurstWindow();
    const results: boolean[] = [];
    for (let open = 1; open <= 2 * SPREAD_BURST; open++) results.push(window.accepted(open, open * 0.1));
    expect(results.map((burst, i) => (burst ? i + 1 : 0)).filter(Boolean)).toEqual([SPREAD_BURST, 2 * SPREAD_BURST]);
  });

  it('is no burst when the connections come slower than the window, or close as fast as they come', () => {
    const slow = new BurstWindow();
    for (let open = 1; open <= 4 * SPREAD_BURST; open++) {
      expect(slow.accepted(open, open * (SPREAD_WINDOW_MS / (SPREAD_BURST - 1)) + open)).toBe(false);
    }
    // No keep-alive: each connection is gone before the next arrives, however many arrive.
    const churn = new BurstWindow();
    for (let i = 0; i < 10 * SPREAD_BURST; i++) expect(churn.accepted(1 + (i % 2), i * 0.01)).toBe(false);
  });
});
