import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Logger } from '../observability/logger.js';
import { loadHooks } from './load-hooks.js';

const dir = mkdtempSync(join(tmpdir(), 'kelpie-hooks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger('info', { write: (line: string) => lines.push(line) }), lines };
}

describe('loadHooks', () => {
  it("returns the file's hooks", async () => {
    const file = join(dir, 'kelpie.config.mjs');
    writeFileSync(file, 'export default { workers: 2, postWorkerInit() {} };\n');
    const { log, lines } = capture();
    const hooks = await loadHooks(file, log, 'worker');
    expect(typeof hooks?.postWorkerInit).toBe('function');
    expect(lines).toEqual([]);
  });

  it('logs a file that no longer loads and goes on without hooks, saying who runs without them', async () => {
    const file = join(dir, 'broken.config.mjs');
    writeFileSync(file, 'export default {;\n');
    const worker = capture();
    expect(await loadHooks(file, worker.log, 'worker')).toBeUndefined();
    expect(worker.lines.join('\n')).toContain(
      `Could not load the worker hooks from ${file}; this worker runs without them`,
    );
    const thread = capture();
    expect(await loadHooks(file, thread.log, 'thread')).toBeUndefined();
    expect(thread.lines.join('\n')).toContain(
      `Could not load the request hooks from ${file}; this thread runs without them`,
    );
  });
});
