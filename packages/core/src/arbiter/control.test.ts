import { describe, expect, it } from 'vitest';
import { CONTROL_COMMANDS, type ControlTarget, runControlRequest } from './control.js';

const target = (): ControlTarget & { calls: string[] } => {
  const calls: string[] = [];
  return {
    calls,
    status: () => ({}) as ReturnType<ControlTarget['status']>,
    reload: () => void calls.push('reload'),
    reopenLogs: () => [],
    stop: (graceful) => void calls.push(`stop ${graceful}`),
    addWorkers: (count) => 2 + count,
    removeWorkers: (count) => 4 - count,
    killWorker: (pid) => void calls.push(`kill ${pid}`),
  };
};

describe('control requests', () => {
  it('runs each command of the table', () => {
    const t = target();
    expect(CONTROL_COMMANDS).toEqual([
      'status',
      'reload',
      'reopen',
      'shutdown',
      'workers.add',
      'workers.remove',
      'worker.kill',
    ]);
    expect(runControlRequest(t, { command: 'reopen' })).toEqual({ errors: [] });
    expect(runControlRequest(t, { command: 'workers.add', count: 2 })).toEqual({ numWorkers: 4 });
    expect(runControlRequest(t, { command: 'shutdown', quick: true })).toEqual({});
    expect(runControlRequest(t, { command: 'worker.kill', pid: 42 })).toEqual({});
    expect(t.calls).toEqual(['stop false', 'kill 42']);
  });

  it('refuses unknown commands, names of Object.prototype included, and bad counts', () => {
    for (const command of ['frob', 'constructor', 'toString', '__proto__']) {
      expect(() => runControlRequest(target(), { command })).toThrow(`unknown command "${command}"; known: status,`);
    }
    expect(() => runControlRequest(target(), { command: 'workers.add', count: 0 })).toThrow(
      'count must be a whole number from 1 to 4096, not 0',
    );
    expect(() => runControlRequest(target(), 'status')).toThrow('a request is a JSON object with a "command"');
  });
});
