import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KELPIE_SIGNALS, SIGNALS, type SignalRow, signalsFor } from './signals.js';

const doc = readFileSync(new URL('../../../docs/signals.md', import.meta.url), 'utf8');

/** The signal names in the first column of the tables of the section titled `title` (`TERM`, `INT`, ...). */
function documented(title: string): Set<string> {
  const start = doc.indexOf(`\n${title}\n`);
  expect(start, `docs/signals.md has a section "${title}"`).toBeGreaterThan(-1);
  const rest = doc.slice(start + title.length + 2);
  const section = rest.slice(0, rest.search(/\n## /) >>> 0);
  const names = section
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .flatMap((line) => (line.split('|')[1] ?? '').split(','))
    .map((cell) => cell.trim());
  return new Set(names);
}

describe('the signals table', () => {
  it.each([
    ['arbiter', '## The arbiter'],
    ['worker', '## Worker processes'],
    ['pid1', '## kelpie as PID 1'],
  ] as const)('docs/signals.md describes every signal the %s handles', (process: keyof SignalRow, title) => {
    const names = documented(title);
    for (const [signal] of signalsFor(process)) {
      expect(names, `${signal} (${process}) in "${title}" of docs/signals.md`).toContain(signal.slice(3));
    }
  });

  it('lists what each kind of process handles, in the table order', () => {
    expect(KELPIE_SIGNALS).toEqual(Object.keys(SIGNALS));
    expect(signalsFor('arbiter').map(([signal]) => signal)).toEqual([
      'SIGHUP',
      'SIGTERM',
      'SIGINT',
      'SIGQUIT',
      'SIGTTIN',
      'SIGTTOU',
      'SIGUSR1',
      'SIGUSR2',
      'SIGWINCH',
    ]);
    expect(signalsFor('worker')).toHaveLength(KELPIE_SIGNALS.length);
    expect(signalsFor('pid1')).toContainEqual(['SIGUSR2', 'refuse-upgrade']);
    expect(signalsFor('pid1').map(([signal]) => signal)).not.toContain('SIGABRT');
  });
});
