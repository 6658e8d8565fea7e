import satisfies from 'semver/functions/satisfies.js';
import validRange from 'semver/ranges/valid.js';
import { describe, expect, it } from 'vitest';
import { coreRangeVerdict } from './core-range.js';

const semverVerdict = (range: string, version: string) =>
  !validRange(range) ? 'invalid' : satisfies(version, range, { includePrerelease: true }) ? 'ok' : 'outside';

describe('coreRangeVerdict', () => {
  const ranges = [
    '^0.1.0',
    '^0.1.3',
    '^0.0.3',
    '^1.2.3',
    '^2.0.0',
    '^0.2.0',
    '>=0.1.0',
    '0.1.x',
    '^0.1',
    '~0.1.0',
    '*',
  ];
  const versions = [
    '0.1.0',
    '0.1.5',
    '0.2.0',
    '0.0.3',
    '0.0.4',
    '1.2.3',
    '1.9.0',
    '2.0.0',
    '0.1.0-beta.1',
    '1.3.0-rc.0',
  ];
  it('agrees with semver (includePrerelease) on carets, other ranges and prereleases', () => {
    for (const range of ranges) {
      for (const version of versions) {
        expect([range, version, coreRangeVerdict(range, version)]).toEqual([
          range,
          version,
          semverVerdict(range, version),
        ]);
      }
    }
  });

  it('says invalid for what semver does not read', () => {
    expect(coreRangeVerdict('not a range', '0.1.0')).toBe('invalid');
    expect(coreRangeVerdict('^01.0.0', '0.1.0')).toBe(semverVerdict('^01.0.0', '0.1.0'));
  });
});
