import { describe, expect, it } from 'vitest';
import { balancedOrder, balancedRow, cycleLength } from './order.js';

/** How often each side takes each place over `turns` consecutive turns. */
function places(n: number, turns: number): number[][] {
  const counts = Array.from({ length: n }, () => Array<number>(n).fill(0));
  for (let t = 0; t < turns; t++) {
    for (const [place, side] of balancedRow(n, t).entries()) {
      const row = counts[side] as number[];
      row[place] = (row[place] ?? 0) + 1;
    }
  }
  return counts;
}

describe('the order of the sides', () => {
  it('gives every turn every side once', () => {
    for (let n = 1; n <= 6; n++) {
      for (let t = 0; t < 2 * cycleLength(n); t++) {
        expect([...balancedRow(n, t)].sort()).toEqual(Array.from({ length: n }, (_, i) => i));
      }
    }
    expect(balancedRow(0, 3)).toEqual([]);
  });

  it('puts every side first, and in every place, equally often over a cycle', () => {
    for (let n = 2; n <= 6; n++) {
      const cycle = cycleLength(n);
      for (const counts of places(n, cycle)) expect(counts).toEqual(Array(n).fill(cycle / n));
    }
  });

  it('has every side follow every other equally often over a cycle', () => {
    for (let n = 2; n <= 6; n++) {
      const follows = new Map<string, number>();
      for (let t = 0; t < cycleLength(n); t++) {
        const row = balancedRow(n, t);
        for (let i = 1; i < n; i++)
          follows.set(`${row[i - 1]}>${row[i]}`, (follows.get(`${row[i - 1]}>${row[i]}`) ?? 0) + 1);
      }
      expect(follows.size).toBe(n * (n - 1));
      expect(new Set(follows.values()).size).toBe(1);
    }
  });

  it('over part of a cycle, has no side first more than once more than another', () => {
    for (let n = 2; n <= 5; n++) {
      for (let turns = 1; turns <= 2 * cycleLength(n); turns++) {
        const first = places(n, turns).map((counts) => counts[0] as number);
        expect(Math.max(...first) - Math.min(...first)).toBeLessThanOrEqual(1);
      }
    }
  });

  it("spreads one rate's rounds: consecutive turns have different sides first", () => {
    const sides = ['kelpie', 'cluster-rr', 'pm2', 'watt'];
    // Three rates of two rounds: turns 0-5.
    const firsts = [0, 1, 2, 3, 4, 5].map((turn) => balancedOrder(sides, turn)[0]);
    expect(firsts).toEqual(['kelpie', 'cluster-rr', 'pm2', 'watt', 'kelpie', 'cluster-rr']);
    expect(balancedOrder(sides, 0)).toEqual(['kelpie', 'cluster-rr', 'watt', 'pm2']);
    expect(balancedOrder(['kelpie', 'cluster'], 0)).toEqual(['kelpie', 'cluster']);
    expect(balancedOrder(['kelpie', 'cluster'], 1)).toEqual(['cluster', 'kelpie']);
  });
});
