import { describe, expect, it } from 'vitest';
import { formatHeld, heldBy, parseSsHolders } from './curves-held.js';

const SS = [
  'ESTAB 0 0 127.0.0.1:8000 127.0.0.1:50001 users:(("node",pid=101,fd=23))',
  'ESTAB 0 0 127.0.0.1:8000 127.0.0.1:50002 users:(("node",pid=102,fd=24))',
  'ESTAB 0 0 127.0.0.1:8000 127.0.0.1:50003 users:(("node",pid=101,fd=25))',
  'ESTAB 0 0 127.0.0.1:8000 127.0.0.1:50004 users:(("node",pid=100,fd=30))',
  '',
].join('\n');

describe('connections held per process', () => {
  it('counts the connections of each pid in ss -Htnp output', () => {
    expect([...parseSsHolders(SS)].sort()).toEqual([
      [100, 1],
      [101, 2],
      [102, 1],
    ]);
  });

  it("splits the manager's from the workers', largest first, a worker without any as 0", () => {
    const held = heldBy(parseSsHolders(SS), 100, [100, 102, 101, 103]);
    expect(held).toEqual({ workers: [2, 1, 0], manager: 1 });
    expect(formatHeld(held)).toBe('2/1/0 +1');
    expect(formatHeld({ workers: [40, 24], manager: 0 })).toBe('40/24');
    expect(formatHeld(undefined)).toBe('');
  });
});
