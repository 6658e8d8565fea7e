import { afterEach, describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import { configTimeoutMs, settleWithin } from './deadline.js';
import { runHook } from './hooks.js';

const never = () => new Promise<never>(() => {});

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('info', { write: (line: string) => lines.push(line) }), lines };
}

afterEach(() => {
  delete process.env.KELPIE_CONFIG_TIMEOUT;
});

describe('KELPIE_CONFIG_TIMEOUT', () => {
  it('defaults to 60 s, takes seconds (0 for none) and refuses what no timer can hold', () => {
    expect(configTimeoutMs({})).toBe(60_000);
    expect(configTimeoutMs({ KELPIE_CONFIG_TIMEOUT: '0.25' })).toBe(250);
    expect(configTimeoutMs({ KELPIE_CONFIG_TIMEOUT: '0' })).toBe(0);
    expect(() => configTimeoutMs({ KELPIE_CONFIG_TIMEOUT: '2147484' })).toThrow(
      /Invalid value for KELPIE_CONFIG_TIMEOUT: "2147484"\. Allowed: a number of seconds from 0 to 2147483/,
    );
    expect(() => configTimeoutMs({ KELPIE_CONFIG_TIMEOUT: '-1' })).toThrow(/KELPIE_CONFIG_TIMEOUT: "-1"/);
  });
});

describe('settleWithin', () => {
  it('passes a result or an error through, and expires what is still pending', async () => {
    const expired = () => new Error('expired');
    await expect(settleWithin(Promise.resolve(7), 50, expired)).resolves.toBe(7);
    await expect(settleWithin(8, 50, expired)).resolves.toBe(8);
    await expect(settleWithin(Promise.reject(new Error('own')), 50, expired)).rejects.toThrow('own');
    await expect(settleWithin(never(), 20, expired)).rejects.toThrow('expired');
  });

  it('shares one beforeExit listener between waits, and removes it after the last', async () => {
    const before = process.listenerCount('beforeExit');
    const waits = Array.from({ length: 20 }, (_, i) => settleWithin(never(), 20 + i, () => new Error('late')));
    expect(process.listenerCount('beforeExit')).toBe(before + 1);
    await Promise.allSettled(waits);
    expect(process.listenerCount('beforeExit')).toBe(before);
  });
});

describe('runHook deadline', () => {
  it('onStarting past the deadline is a KELPIE_ERR_HOOK_TIMEOUT (exit 5)', async () => {
    process.env.KELPIE_CONFIG_TIMEOUT = '0.05';
    const { log } = capture();
    const error = await runHook({ onStarting: never }, 'onStarting', log, {} as never).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KELPIE_ERR_HOOK_TIMEOUT', exitCode: 5 });
    expect(String(error)).toMatch(/Hook onStarting did not finish: it is still pending after 0\.05 s/);
  });

  it('other awaited hooks past the deadline are logged and left behind', async () => {
    process.env.KELPIE_CONFIG_TIMEOUT = '0.05';
    const { log, lines } = capture();
    await runHook({ onReload: never }, 'onReload', log, {} as never);
    expect(lines.join('')).toMatch(/\[ERROR\] Hook onReload did not finish: .* Going on without it\./);
  });

  it('a throwing hook is still logged as an error in the hook', async () => {
    const { log, lines } = capture();
    await runHook(
      {
        onExit() {
          throw new Error('boom');
        },
      },
      'onExit',
      log,
      {} as never,
    );
    expect(lines.join('')).toMatch(/Error in hook onExit/);
  });
});
