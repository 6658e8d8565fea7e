import { describe, expect, it } from 'vitest';
import { ACCESS_LOG_ATOM_TABLE, ACCESS_LOG_ATOMS, parseAccessLogFormat } from './access-log-format.js';

describe('the access-log format grammar', () => {
  it('splits a format into text, atoms and braced atoms', () => {
    expect(parseAccessLogFormat('%(h)s "%({X-Id}i)s" %({HOME}e)s%(T)s')).toEqual([
      '',
      { atom: 'h' },
      ' "',
      { braced: 'i', name: 'X-Id' },
      '" ',
      { braced: 'e', name: 'HOME' },
      '',
      { atom: 'T' },
      '',
    ]);
  });

  it('refuses an unknown atom, a name of Object.prototype included, listing the known ones', () => {
    for (const atom of ['x', 'constructor', '{header}x', 'header}i']) {
      expect(() => parseAccessLogFormat(`%(${atom})s`, '--fmt')).toThrow(
        `Invalid value for --fmt: unknown atom %(${atom})s`,
      );
    }
    expect(() => parseAccessLogFormat('%(x)s')).toThrow(/Allowed: %\(h\)s %\(l\)s .* %\(\{variable\}e\)s\.$/);
  });

  it('lists every atom with its meaning', () => {
    expect(Object.keys(ACCESS_LOG_ATOMS)).toEqual(Object.keys(ACCESS_LOG_ATOM_TABLE));
    expect(ACCESS_LOG_ATOMS.h).toBe('remote address');
  });
});
