import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildEntryMissing, NpmFailed, sourceFiles } from '@kelpie/testkit/npm-app';
import { describe, expect, it } from 'vitest';
import { NEXT_NOT_SOURCES, NEXT_STANDALONE_SERVER, notBuiltReason } from './next-app.js';
import { appFile, LISTENING_APPS } from './peers/paths.js';
import { wattNextConfig } from './peers/watt-next.js';
import { scenarios } from './scenarios.js';

describe('the Next.js page', () => {
  it('hashes only the app sources: not node_modules, the build, its stamp or a run config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kelpie-bench-next-'));
    try {
      for (const file of ['package.json', 'app/page.js', 'node_modules/next/index.js', '.next/standalone/server.js']) {
        mkdirSync(join(dir, file, '..'), { recursive: true });
        writeFileSync(join(dir, file), 'x');
      }
      writeFileSync(join(dir, '.kelpie-build-stamp'), 'x');
      writeFileSync(join(dir, 'watt.json'), '{}');
      expect(sourceFiles(dir, NEXT_NOT_SOURCES)).toEqual([join('app', 'page.js'), 'package.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('turns a failed install or build into a one-line skip reason', () => {
    const npmError = (code: number | string, stderr: string) =>
      new NpmFailed(
        ['ci', '--prefer-offline'],
        '/app',
        '',
        stderr,
        Object.assign(new Error('Command failed'), { code }),
      );
    expect(notBuiltReason(npmError('ENOENT', ''))).toBe('npm is not available');
    expect(notBuiltReason(npmError(1, 'npm error code E404\nnpm error 404 Not Found - GET next\n'))).toBe(
      'npm ci --prefer-offline failed: 404 Not Found - GET next',
    );
    expect(notBuiltReason(new BuildEntryMissing('/app', NEXT_STANDALONE_SERVER))).toBe(
      `next build did not write ${NEXT_STANDALONE_SERVER}`,
    );
    expect(notBuiltReason(new Error("ENOENT: no such file or directory, open 'package-lock.json'\nmore"))).toBe(
      "ENOENT: no such file or directory, open 'package-lock.json'",
    );
  });

  it('is served unchanged by every side, on Node 26, built before its sides start', () => {
    const scenario = scenarios.find((s) => s.name === 'next-page');
    expect(scenario).toMatchObject({ app: 'next-standalone', node: 26, peers: ['next-start', 'pm2', 'watt-next'] });
    expect(scenario?.prepare).toBeTypeOf('function');
    expect(LISTENING_APPS).toContain('next-standalone');
    expect(appFile('next-standalone')).toMatch(/next[/\\]\.next[/\\]standalone[/\\]server\.js$/);
  });

  it("gives Watt's Next.js capability the standalone build, the bind and the workers", () => {
    expect(wattNextConfig(8123, 2)).toMatchObject({
      next: { standalone: true },
      server: { hostname: '127.0.0.1', port: 8123 },
      runtime: { workers: 2 },
    });
  });
});
