import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removePidfile, renamePidfile, writePidfile } from './pidfile.js';

const root = mkdtempSync(join(tmpdir(), 'kelpie-pidfile-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const folder = () => {
  const dir = join(root, String(++n));
  mkdirSync(dir);
  return dir;
};

describe('writePidfile', () => {
  it('writes the pid as a regular file and leaves no temporary file behind', () => {
    const dir = folder();
    writePidfile(join(dir, 'a.pid'), 4242);
    expect(readFileSync(join(dir, 'a.pid'), 'utf8')).toBe('4242\n');
    expect(readdirSync(dir)).toEqual(['a.pid']);
  });

  it('replaces a stale or unreadable one', () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.pid'), 'not a pid at all\n');
    writePidfile(join(dir, 'a.pid'), 4242);
    expect(readFileSync(join(dir, 'a.pid'), 'utf8')).toBe('4242\n');
  });

  it('refuses a file naming a live process', () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.pid'), `${process.pid}\n`);
    expect(() => writePidfile(join(dir, 'a.pid'), 4242)).toThrow(/Already running on PID \d+/);
  });

  it('refuses a symbolic link, even to a file naming nothing alive, and leaves link and target alone', () => {
    const dir = folder();
    writeFileSync(join(dir, 'victim'), 'precious\n');
    symlinkSync(join(dir, 'victim'), join(dir, 'a.pid'));
    expect(() => writePidfile(join(dir, 'a.pid'), 4242)).toThrow(
      expect.objectContaining({
        code: 'KELPIE_ERR_PIDFILE',
        message: expect.stringMatching(/a\.pid is a symbolic link/),
      }),
    );
    expect(readlinkSync(join(dir, 'a.pid'))).toBe(join(dir, 'victim'));
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('precious\n');
    expect(readdirSync(dir).sort()).toEqual(['a.pid', 'victim']);
  });

  it('refuses a dangling symbolic link (it would create the file it points to)', () => {
    const dir = folder();
    symlinkSync(join(dir, 'created-through-the-link'), join(dir, 'a.pid'));
    expect(() => writePidfile(join(dir, 'a.pid'), 4242)).toThrow(/is a symbolic link/);
    expect(readdirSync(dir)).toEqual(['a.pid']);
  });

  it('refuses a FIFO or a folder without hanging on it', () => {
    const dir = folder();
    execFileSync('mkfifo', [join(dir, 'fifo.pid')]);
    mkdirSync(join(dir, 'dir.pid'));
    expect(() => writePidfile(join(dir, 'fifo.pid'), 4242)).toThrow(/fifo\.pid is not a regular file/);
    expect(() => writePidfile(join(dir, 'dir.pid'), 4242)).toThrow(/dir\.pid is not a regular file/);
  });
});

describe('removePidfile and renamePidfile', () => {
  it('remove: only a regular file holding our pid; a link to one is left alone', () => {
    const dir = folder();
    writeFileSync(join(dir, 'victim'), '4242\n');
    symlinkSync(join(dir, 'victim'), join(dir, 'link.pid'));
    removePidfile(join(dir, 'link.pid'), 4242);
    writeFileSync(join(dir, 'other.pid'), '4343\n');
    removePidfile(join(dir, 'other.pid'), 4242);
    writePidfile(join(dir, 'own.pid'), 4242);
    removePidfile(join(dir, 'own.pid'), 4242);
    expect(readdirSync(dir).sort()).toEqual(['link.pid', 'other.pid', 'victim']);
    expect(readFileSync(join(dir, 'victim'), 'utf8')).toBe('4242\n');
  });

  it('rename: FILE.2 becomes FILE; a link at FILE.2 is not ours and FILE is written afresh', () => {
    const dir = folder();
    writePidfile(join(dir, 'a.pid.2'), 4242);
    renamePidfile(join(dir, 'a.pid.2'), join(dir, 'a.pid'), 4242);
    expect(readdirSync(dir)).toEqual(['a.pid']);
    writeFileSync(join(dir, 'victim'), '4242\n');
    symlinkSync(join(dir, 'victim'), join(dir, 'b.pid.2'));
    renamePidfile(join(dir, 'b.pid.2'), join(dir, 'b.pid'), 4242);
    expect(readFileSync(join(dir, 'b.pid'), 'utf8')).toBe('4242\n');
    expect(readlinkSync(join(dir, 'b.pid.2'))).toBe(join(dir, 'victim'));
  });
});
