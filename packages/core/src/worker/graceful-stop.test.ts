import { describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import { drainThenShutdown, type StopStep } from './graceful-stop.js';

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('info', { write: (line: string) => lines.push(line) }), lines };
}

describe('drainThenShutdown', () => {
  it('drains, reports, unloads, runs the app shutdown, then waits for upgraded connections', async () => {
    const { log, lines } = capture();
    const order: string[] = [];
    const step = (name: string) => async () => {
      order.push(name);
    };
    await drainThenShutdown(
      {
        drain: step('drain'),
        report: step('report'),
        unload: step('unload'),
        appShutdown: step('appShutdown'),
        drainUpgraded: step('drainUpgraded'),
      },
      log,
      'Error during graceful stop',
      (next: StopStep) => order.push(`step:${next}`),
    );
    expect(order).toEqual(['drain', 'step:app', 'report', 'unload', 'appShutdown', 'step:upgraded', 'drainUpgraded']);
    expect(lines).toEqual([]);
  });

  it('runs without the process-only steps (an app thread), and steps may return nothing', async () => {
    const { log } = capture();
    const order: string[] = [];
    await drainThenShutdown(
      {
        drain: () => undefined,
        unload: () => {
          order.push('unload');
        },
        drainUpgraded: () => order.push('drainUpgraded'),
      },
      log,
      'Error during graceful stop of thread 1',
    );
    expect(order).toEqual(['unload', 'drainUpgraded']);
  });

  it('logs a step that fails with the caller’s message and skips the steps after it', async () => {
    const { log, lines } = capture();
    const order: string[] = [];
    await drainThenShutdown(
      {
        drain: async () => {
          throw new Error('drain broke');
        },
        unload: () => order.push('unload'),
        drainUpgraded: () => order.push('drainUpgraded'),
      },
      log,
      'Error during graceful stop of thread 2',
    );
    expect(order).toEqual([]);
    expect(lines.join('\n')).toContain('Error during graceful stop of thread 2');
    expect(lines.join('\n')).toContain('drain broke');
  });
});
