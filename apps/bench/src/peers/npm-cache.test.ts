import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheRoot, npmReason } from './npm-cache.js';

describe('cacheRoot', () => {
  it('is KELPIE_BENCH_CACHE when set, else kelpie-bench in XDG_CACHE_HOME, else in ~/.cache', () => {
    expect(cacheRoot({ KELPIE_BENCH_CACHE: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c');
    expect(cacheRoot({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'kelpie-bench'));
    expect(cacheRoot({})).toMatch(/[/\\]\.cache[/\\]kelpie-bench$/);
  });
});

describe('npmReason', () => {
  it("keeps npm's message that says what failed, on one line", () => {
    const output = [
      'npm error code ECONNREFUSED',
      'npm error syscall connect',
      'npm error errno ECONNREFUSED',
      'npm error FetchError: request to http://127.0.0.1:9/node failed, reason: connect ECONNREFUSED 127.0.0.1:9',
      'npm error     at ClientRequest.<anonymous> (index.js:130:14)',
      'npm error A complete log of this run can be found in: debug-0.log',
    ].join('\n');
    expect(npmReason(output)).toBe(
      'FetchError: request to http://127.0.0.1:9/node failed, reason: connect ECONNREFUSED 127.0.0.1:9',
    );
    expect(npmReason('npm error code ETARGET\nnpm error notarget No matching version found for wattpm@0.\n')).toBe(
      'notarget No matching version found for wattpm@0.',
    );
    expect(npmReason('something else went wrong\n')).toBe('something else went wrong');
  });
});
