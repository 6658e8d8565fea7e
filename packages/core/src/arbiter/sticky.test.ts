import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../config/command-line.js';
import { isKelpieError } from '../errors.js';
import { readAheadOf } from '../ipc/read-ahead.js';
import { addressHash, checkSticky, chooseWorker, freeSlot, slotScore } from './sticky.js';

const addresses = Array.from({ length: 4000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);
const slots = (n: number) => Array.from({ length: n }, (_, slot) => ({ slot, outdated: false }));
const choose = (address: string, candidates: { slot: number; outdated: boolean }[]) =>
  chooseWorker(addressHash(address), candidates)?.slot;

describe('sticky slot choice (rendezvous hashing)', () => {
  it('is stable: the same address always gets the same slot', () => {
    for (const address of addresses.slice(0, 100)) {
      expect(choose(address, slots(4))).toBe(choose(address, slots(4)));
    }
    expect(addressHash('::ffff:192.0.2.1')).toBe(addressHash('192.0.2.1'));
    expect(slotScore(1, 2)).toBe(slotScore(1, 2));
  });

  it('spreads addresses evenly over the slots', () => {
    const counts = [0, 0, 0, 0];
    for (const address of addresses) {
      const slot = choose(address, slots(4)) as number;
      counts[slot] = (counts[slot] ?? 0) + 1;
    }
    for (const count of counts) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });

  it('a missing slot sends only its own clients elsewhere, and takes them back when it returns', () => {
    const all = slots(4);
    const without2 = all.filter((w) => w.slot !== 2);
    for (const address of addresses) {
      const before = choose(address, all);
      const during = choose(address, without2);
      if (before === 2) expect(during).not.toBe(2);
      else expect(during).toBe(before);
    }
  });

  it('a new slot (TTIN) takes about 1/N of the clients, from every other slot, and moves no one else', () => {
    let moved = 0;
    for (const address of addresses) {
      const before = choose(address, slots(3));
      const after = choose(address, slots(4));
      if (after !== before) {
        expect(after).toBe(3);
        moved++;
      }
    }
    expect(Math.abs(moved - 1000)).toBeLessThan(150);
  });

  it('prefers the current generation in a slot an outdated worker (HUP) still holds', () => {
    const old = { slot: 0, outdated: true, name: 'old' };
    const fresh = { slot: 0, outdated: false, name: 'new' };
    expect(chooseWorker(addressHash('192.0.2.1'), [old, fresh])?.name).toBe('new');
    expect(chooseWorker(addressHash('192.0.2.1'), [fresh, old])?.name).toBe('new');
    expect(chooseWorker(addressHash('192.0.2.1'), [])).toBeUndefined();
  });

  it('gives a new worker the lowest free slot', () => {
    expect(freeSlot([])).toBe(0);
    expect(freeSlot([0, 1, 3])).toBe(2);
    expect(freeSlot([1, 0])).toBe(2);
  });
});

describe('checkSticky', () => {
  const settings = (args: string[]) => parseCommandLine([...args, 'app.js'], {}).settings;
  const klass = (name: string, extra: { accept?: 'worker' | 'arbiter'; sticky?: boolean }) => ({
    meta: { name, version: '1.0.0', core: '*' },
    ...extra,
  });
  const refusal = (args: string[], cls: ReturnType<typeof klass>, extra = {}) => {
    try {
      checkSticky({ ...settings(args), ...extra }, cls);
    } catch (error) {
      expect(isKelpieError(error) && error.code).toBe('KELPIE_ERR_INVALID_SETTING');
      return (error as Error).message;
    }
    return undefined;
  };

  it('accepts a sticky class, and anything without --sticky', () => {
    expect(refusal(['--sticky'], klass('async', { sticky: true }))).toBeUndefined();
    expect(refusal([], klass('sync', { accept: 'arbiter' }))).toBeUndefined();
  });

  it('refuses -k sync, classes that cannot take connections, and --reuse-port, naming the settings', () => {
    expect(refusal(['--sticky'], klass('sync', { accept: 'arbiter' }))).toMatch(/--sticky with -k sync/);
    expect(refusal(['--sticky'], klass('threads', {}))).toMatch(/--sticky with -k threads.*static sticky = true/);
    expect(refusal(['--sticky'], klass('ws', { sticky: true }), { reusePort: true })).toMatch(
      /--sticky with --reuse-port/,
    );
  });
});

describe('readAheadOf', () => {
  it('decodes what the arbiter read, and ignores what is not its shape', () => {
    const header = { version: 1, command: 'PROXY', family: 'TCP4', sourceAddress: '192.0.2.1' } as const;
    const decoded = readAheadOf({ header, rest: Buffer.from('GET /').toString('base64') });
    expect(decoded?.header).toEqual(header);
    expect(decoded?.rest.toString()).toBe('GET /');
    expect(readAheadOf({ header: null, rest: '' })).toEqual({ rest: Buffer.alloc(0) });
    expect(readAheadOf(undefined)).toBeUndefined();
    expect(readAheadOf({ header: null, rest: 5 } as never)).toBeUndefined();
  });
});
