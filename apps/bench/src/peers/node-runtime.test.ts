import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { atLeast, majorMinor } from './node-runtime.js';
import { cacheRoot } from './npm-cache.js';

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

describe('cacheRoot', () => {
  it('is KELPIE_BENCH_CACHE when set, else kelpie-bench in XDG_CACHE_HOME, else in ~/.cache', () => {
    expect(cacheRoot({ KELPIE_BENCH_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(cacheRoot({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'kelpie-bench'));
    expect(cacheRoot({})).toMatch(/[/\\]\.cache[/\\]kelpie-bench$/);
  });
});
