// installOnce and buildOnce with real npm on a tiny app in a temp folder: no dependencies, so
// `npm ci` runs offline; its build script writes the entry (or not), and counts its runs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BUILD_STAMP,
  BuildEntryMissing,
  buildOnce,
  INSTALL_STAMP,
  installOnce,
  NpmFailed,
  sourceFiles,
} from './npm-app.js';

let dir: string;

// Appends a line to builds.log (an ignored output) and writes out/entry.js unless SKIP_ENTRY exists.
const BUILD_SCRIPT = `const fs = require('node:fs');
fs.appendFileSync('builds.log', (process.env.NODE_ENV ?? '-') + ' ' + (process.env.npm_config_foo ?? '-') + '\\n');
fs.mkdirSync('out', { recursive: true });
if (!fs.existsSync('SKIP_ENTRY')) fs.writeFileSync('out/entry.js', '');
`;

function writeApp(scripts: Record<string, string> = { build: 'node build.cjs' }): void {
  const pkg = { name: 'tiny-app', version: '1.0.0', private: true, scripts };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  const lock = { name: 'tiny-app', version: '1.0.0', lockfileVersion: 3, requires: true, packages: { '': pkg } };
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  writeFileSync(join(dir, 'build.cjs'), BUILD_SCRIPT);
}

const builds = () => readFileSync(join(dir, 'builds.log'), 'utf8').trim().split('\n');
const BUILD = { entry: join('out', 'entry.js'), ignore: ['out', 'builds.log'] };

function restoreEnv(saved: Record<string, string | undefined>): void {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'kelpie-npm-app-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('sourceFiles', () => {
  it('lists files relative and sorted, without node_modules, the build stamp or what is ignored', () => {
    for (const file of ['package.json', 'src/b.js', 'src/a.js', 'node_modules/x/index.js', 'out/entry.js', 'src/out']) {
      mkdirSync(join(dir, file, '..'), { recursive: true });
      writeFileSync(join(dir, file), 'x');
    }
    writeFileSync(join(dir, BUILD_STAMP), 'x');
    // Ignored paths are relative to the app's folder: src/out is a source.
    expect(sourceFiles(dir, ['out'])).toEqual([
      'package.json',
      join('src', 'a.js'),
      join('src', 'b.js'),
      join('src', 'out'),
    ]);
  });
});

describe('installOnce', () => {
  it('runs npm ci once per lockfile, stamping node_modules with its hash', async () => {
    writeApp();
    let started = 0;
    const options = { onStart: () => started++ };
    expect(await installOnce(dir, options)).toBe(true);
    expect(readFileSync(join(dir, INSTALL_STAMP), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(await installOnce(dir, options)).toBe(false);
    expect(started).toBe(1);
    writeFileSync(join(dir, 'package-lock.json'), `${readFileSync(join(dir, 'package-lock.json'), 'utf8')}\n`);
    expect(await installOnce(dir, options)).toBe(true);
    expect(started).toBe(2);
  });

  it('throws NpmFailed with npm output when npm ci fails, and stamps nothing', async () => {
    writeApp();
    writeFileSync(join(dir, 'package-lock.json'), '{ not json');
    const error = await installOnce(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NpmFailed);
    const failed = error as NpmFailed;
    expect(failed.args).toEqual(['ci', '--prefer-offline']);
    expect(failed.message).toContain(`npm ci --prefer-offline failed in ${dir}:\n`);
    expect(`${failed.stdout}${failed.stderr}`).not.toBe('');
    expect(() => readFileSync(join(dir, INSTALL_STAMP))).toThrow();
  });

  it('throws when the app has no lockfile', async () => {
    writeApp();
    rmSync(join(dir, 'package-lock.json'));
    await expect(installOnce(dir)).rejects.toThrow(/ENOENT.*package-lock\.json/);
  });
});

describe('buildOnce', () => {
  it('builds again only when a source changes or the entry is gone, not for outputs', async () => {
    writeApp();
    let started = 0;
    const options = { ...BUILD, onStart: () => started++ };
    expect(await buildOnce(dir, options)).toBe(true);
    expect(readFileSync(join(dir, BUILD_STAMP), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    // The build's own outputs (out/, builds.log) and node_modules do not count as sources.
    mkdirSync(join(dir, 'node_modules'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'x.js'), '');
    expect(await buildOnce(dir, options)).toBe(false);
    writeFileSync(join(dir, 'page.js'), 'changed');
    expect(await buildOnce(dir, options)).toBe(true);
    rmSync(join(dir, 'out'), { recursive: true });
    expect(await buildOnce(dir, options)).toBe(true);
    expect(await buildOnce(dir, options)).toBe(false);
    expect(started).toBe(3);
    expect(builds()).toHaveLength(3);
  });

  it("runs npm without vitest's NODE_ENV or a pnpm script's npm_config_*", async () => {
    writeApp();
    const saved = { NODE_ENV: process.env.NODE_ENV, npm_config_foo: process.env.npm_config_foo };
    Object.assign(process.env, { NODE_ENV: 'test', npm_config_foo: 'bar' });
    try {
      await buildOnce(dir, BUILD);
    } finally {
      restoreEnv(saved);
    }
    expect(builds()).toEqual(['- -']);
  });

  it('throws BuildEntryMissing when the build does not write the entry, and stamps nothing', async () => {
    writeApp();
    writeFileSync(join(dir, 'SKIP_ENTRY'), '');
    const error = await buildOnce(dir, BUILD).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildEntryMissing);
    expect((error as Error).message).toBe(`npm run build in ${dir} did not produce ${join('out', 'entry.js')}`);
    expect(() => readFileSync(join(dir, BUILD_STAMP))).toThrow();
  });

  it('throws NpmFailed with the script output when the build fails', async () => {
    writeApp({ build: 'node -e "console.error(\'the build broke\'); process.exit(3)"' });
    const error = await buildOnce(dir, BUILD).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NpmFailed);
    expect((error as NpmFailed).message).toContain(`npm run build failed in ${dir}:\n`);
    expect((error as NpmFailed).stderr).toContain('the build broke');
  });

  it('throws NpmFailed whose cause has code ENOENT when npm is not on PATH', async () => {
    writeApp();
    const saved = { PATH: process.env.PATH };
    process.env.PATH = dir;
    try {
      const error = await buildOnce(dir, BUILD).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NpmFailed);
      expect(((error as NpmFailed).cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    } finally {
      restoreEnv(saved);
    }
  });

  it('kills npm after timeoutMs', async () => {
    writeApp({ build: 'node -e "setTimeout(() => {}, 60000)"' });
    const error = await buildOnce(dir, { ...BUILD, timeoutMs: 200 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NpmFailed);
    expect(((error as NpmFailed).cause as { killed?: boolean }).killed).toBe(true);
  });
});
