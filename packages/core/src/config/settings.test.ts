import { describe, expect, it } from 'vitest';
import {
  RESTART_ONLY_SETTINGS,
  rangeOf,
  type SettingDef,
  type SettingName,
  settings,
  TIMER_MAX_MS,
  TIMER_MAX_SECONDS,
} from './settings.js';

const entries = Object.entries(settings) as [SettingName, SettingDef<unknown>][];
const NUMERIC_META = new Set(['INT', 'SECONDS', 'BYTES', 'MB']);

/** Milliseconds kelpie or Node.js adds to a timer setting before it becomes a timer. */
const TIMER_MARGIN_MS: Partial<Record<SettingName, number>> = {
  gracefulTimeout: 1000, // the arbiter's SIGKILL comes a second after the workers' own deadline
  keepAlive: 1000, // Node.js 24.6+ adds keepAliveTimeoutBuffer (1 s) to the socket timeout
};

describe('bounds of numeric settings', () => {
  it('every numeric setting has a range with a finite, exact maximum', () => {
    const numeric = entries.filter(([, def]) => NUMERIC_META.has(def.meta ?? ''));
    expect(numeric.length).toBeGreaterThan(15);
    for (const [name, def] of numeric) {
      const range = rangeOf(def);
      expect(range, `${name} declares no range`).toBeDefined();
      expect(Number.isSafeInteger(range?.max), `${name}'s maximum is not an exact integer`).toBe(true);
    }
  });

  it('the maximum parses, one more is refused with the flag, the value and the range', () => {
    for (const [name, def] of entries) {
      const range = rangeOf(def);
      if (!range || name === 'umask') continue;
      expect(def.parse(String(range.max), `--${name}`), name).toBe(range.max);
      expect(def.parse(range.max, `--${name}`), name).toBe(range.max);
      expect(() => def.parse(String(range.max + 1), `--${name}`), name).toThrow(
        new RegExp(`Invalid value for --${name}: "${range.max + 1}"\\. Allowed: .*${range.min} to ${range.max}`),
      );
      expect(() => def.parse('99999999999999999999', `--${name}`), name).toThrow(/Allowed: /);
      expect(() => def.parse(1e20, `--${name}`), name).toThrow(/Allowed: /);
      expect(() => def.parse(String(range.min - 1), `--${name}`), name).toThrow(/Allowed: /);
    }
  });

  it('every seconds setting fits in a Node.js timer, margins included', () => {
    const timers = entries.filter(([, def]) => def.meta === 'SECONDS');
    expect(timers.map(([name]) => name)).toEqual(
      expect.arrayContaining(['timeout', 'gracefulTimeout', 'keepAlive', 'headerTimeout', 'wsPingInterval']),
    );
    for (const [name, def] of timers) {
      const max = rangeOf(def)?.max as number;
      expect(max * 1000 + (TIMER_MARGIN_MS[name] ?? 0), name).toBeLessThanOrEqual(TIMER_MAX_MS);
    }
    expect(TIMER_MAX_SECONDS).toBe(2147483);
    expect(() => settings.gracefulTimeout.parse('3000000', '--graceful-timeout')).toThrow(
      /"3000000"\. Allowed: a number of seconds from 0 to 2147482/,
    );
    expect(settings.timeout.parse('0.5', '--timeout')).toBe(0.5);
  });

  it('--workers auto stays within the maximum', () => {
    expect(settings.workers.parse('auto', '--workers')).toBeLessThanOrEqual(4096);
    expect(() => settings.workers.parse('4097', '--workers')).toThrow(/an integer from 1 to 4096, or "auto"/);
  });
});

describe('settings HUP cannot change', () => {
  it('are the ones the table marks onHup: restart (sockets, identity, files, servers opened at start)', () => {
    expect([...RESTART_ONLY_SETTINGS].sort()).toEqual(
      [
        'bind',
        'chdir',
        'controlSocket',
        'controlSocketDisable',
        'daemon',
        'dogstatsdTags',
        'errorLogfile',
        'group',
        'logFormat',
        'metricsBind',
        'pidfile',
        'reusePort',
        'statsdHost',
        'statsdPrefix',
        'sticky',
        'umask',
        'user',
        'workerClass',
      ].sort(),
    );
  });
});
