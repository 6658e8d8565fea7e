import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { socketFolderProblem } from './listeners.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-listeners-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('socketFolderProblem', () => {
  it('names a missing folder, a file in the way, or nothing for a usable folder', () => {
    expect(socketFolderProblem(join(dir, 'missing', 'x.sock'))).toBe(
      `the folder ${join(dir, 'missing')} does not exist`,
    );
    writeFileSync(join(dir, 'file'), '');
    expect(socketFolderProblem(join(dir, 'file', 'x.sock'))).toMatch(/is not a folder/);
    expect(socketFolderProblem(join(dir, 'x.sock'))).toBeUndefined();
  });
});
