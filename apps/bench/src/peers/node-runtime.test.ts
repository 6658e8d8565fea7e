import { describe, expect, it } from 'vitest';
import { atLeast, majorMinor } from './node-runtime.js';

describe('Node versions', () => {
  it('reads major and minor from process.version', () => {
    expect(majorMinor('v26.10.0')).toEqual([26, 10]);
    expect(majorMinor('22.19.1')).toEqual([22, 19]);
  });

  it("compares against a floor such as Watt's engines (>= 22.19)", () => {
    expect(atLeast('v22.19.0', 22, 19)).toBe(true);
    expect(atLeast('v22.18.9', 22, 19)).toBe(false);
    expect(atLeast('v20.20.2', 22, 19)).toBe(false);
    expect(atLeast('v26.0.0', 22, 19)).toBe(true);
  });
});
