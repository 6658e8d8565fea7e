import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeNewResultFile } from './results.js';

const dir = mkdtempSync(join(tmpdir(), 'bench-results-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeNewResultFile', () => {
  it('never overwrites a run of the same minute: the next gets -2, then -3', () => {
    const path = join(dir, 'startup-2026-12-06T21-10.json');
    expect(writeNewResultFile(path, 'a')).toBe(path);
    expect(writeNewResultFile(path, 'b')).toBe(join(dir, 'startup-2026-12-06T21-10-2.json'));
    expect(writeNewResultFile(path, 'c')).toBe(join(dir, 'startup-2026-12-06T21-10-3.json'));
    expect(readFileSync(path, 'utf8')).toBe('a');
  });
});
