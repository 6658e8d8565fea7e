import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { fixture } from './helpers.js';

/** Run the conformance suite under node:test in its own process; resolve with its TAP-ish output and exit code. */
function nodeTest(worker: string, only: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=spec', fixture('node-test-conformance.mjs')], {
      env: { ...process.env, CONFORMANCE_WORKER: worker, CONFORMANCE_ONLY: only.join(','), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('the worker testkit under node:test', () => {
  it('passes a conforming class (async) and names each check', async () => {
    const { code, output } = await nodeTest('async', ['boot', 'shape:fetch', 'errors']);
    expect(output).toMatch(/kelpie worker conformance: -k async/);
    expect(output).toMatch(/boot: boots a worker/);
    expect(output).toMatch(/shape:fetch: serves a fetch app/);
    expect(output).toMatch(/ℹ pass 3/);
    expect(output).toMatch(/ℹ fail 0/);
    expect(code).toBe(0);
  });

  it('fails a class that breaks the contract (never counts requests), saying which check and why', async () => {
    const { code, output } = await nodeTest(`${fixture('contract-breaking-workers.mjs')}#UncountedWorker`, [
      'boot',
      'max-requests',
    ]);
    expect(output).toMatch(/ℹ pass 1/);
    expect(output).toMatch(/ℹ fail 1/);
    expect(output).toMatch(/max-requests: --max-requests 3/);
    expect(output).toMatch(/Autorestarting worker after current request/);
    expect(code).not.toBe(0);
  });
});
