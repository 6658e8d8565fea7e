/**
 * The layering of kelpie's packages, checked on every test run (docs/architecture.md, "Layers").
 * Each rule lists every import that breaks it, with file and line; none is excused here.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Import, importsOf, sourceFiles } from './imports.js';

const core = fileURLToPath(new URL('..', import.meta.url));
const repo = resolve(core, '../..');
const src = join(core, 'src');
const pkg = JSON.parse(readFileSync(join(core, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };

/** core's folders by concern; the files at src/ itself (errors, exit codes, version, the entries) are the root. */
const FEATURES = ['app', 'arbiter', 'http', 'ipc', 'observability', 'plugins', 'worker'];
const ENTRIES = ['index.ts', 'internal.ts'];

/** A frameworks or WebSocket library core must never depend on (it recognizes them by shape). */
const FRAMEWORKS = ['ws', 'express', 'koa', 'fastify', 'hono', '@hono/node-server', 'crossws', 'socket.io', 'h3'];

interface CoreImport extends Import {
  file: string; // relative to src/
  folder: string; // the importer's folder, '' at the root
  target?: string; // the imported file relative to src/, for relative imports
  targetFolder?: string;
}

const folderOf = (path: string) => (path.includes(sep) ? path.slice(0, path.indexOf(sep)) : '');
const where = (i: { file: string; line: number; specifier: string }) => `${i.file}:${i.line} imports ${i.specifier}`;

function coreImports(): CoreImport[] {
  const files = sourceFiles(src).filter((file) => !file.endsWith('.test.ts'));
  return files.flatMap((path) => {
    const file = relative(src, path);
    return importsOf(path).map((i): CoreImport => {
      const base = { ...i, file, folder: folderOf(file) };
      if (!i.specifier.startsWith('.')) return base;
      const target = relative(src, resolve(dirname(path), i.specifier));
      return { ...base, target, targetFolder: folderOf(target) };
    });
  });
}

/** The package a bare specifier names: `semver`, `@scope/name`, without a subpath. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

describe('the layers of packages/core/src (source files; tests beside them may reach across)', () => {
  const imports = coreImports();

  it('nothing but the entries imports arbiter/: the HTTP layer and the worker process never load arbiter code', () => {
    const broken = imports.filter(
      (i) => i.targetFolder === 'arbiter' && i.folder !== 'arbiter' && !(i.folder === '' && ENTRIES.includes(i.file)),
    );
    expect(broken.map(where)).toEqual([]);
  });

  it('config/ imports no feature folder (types included; only the Logger type its hooks receive)', () => {
    const broken = imports.filter(
      (i) =>
        i.folder === 'config' &&
        FEATURES.includes(i.targetFolder ?? '') &&
        !(i.typeOnly && i.target === join('observability', 'logger.js')),
    );
    expect(broken.map(where)).toEqual([]);
  });

  it('the HTTP layer loads no worker and no app code: http/ imports from app/ only types, nothing from worker/', () => {
    const broken = imports.filter(
      (i) => i.folder === 'http' && (i.targetFolder === 'worker' || (i.targetFolder === 'app' && !i.typeOnly)),
    );
    expect(broken.map(where)).toEqual([]);
  });

  it('app/ never imports worker/: the app layer is loaded by the worker, not the other way round', () => {
    const broken = imports.filter((i) => i.folder === 'app' && i.targetFolder === 'worker');
    expect(broken.map(where)).toEqual([]);
  });

  it('arbiter/ imports only types from worker/: workers are processes it spawns, not code it runs', () => {
    const broken = imports.filter((i) => i.folder === 'arbiter' && i.targetFolder === 'worker' && !i.typeOnly);
    expect(broken.map(where)).toEqual([]);
  });

  it('observability/ imports only config/ and the root', () => {
    const broken = imports.filter(
      (i) =>
        i.folder === 'observability' && FEATURES.includes(i.targetFolder ?? '') && i.targetFolder !== 'observability',
    );
    expect(broken.map(where)).toEqual([]);
  });

  it('ipc/ imports only types from the rest of core', () => {
    const broken = imports.filter((i) => i.folder === 'ipc' && i.target && i.targetFolder !== 'ipc' && !i.typeOnly);
    expect(broken.map(where)).toEqual([]);
  });

  it('core imports only node: builtins and its own dependencies (no framework, no ws)', () => {
    const deps = Object.keys(pkg.dependencies);
    const broken = imports.filter((i) => {
      if (i.target !== undefined) return i.target.startsWith(`..${sep}..`); // outside packages/core
      if (i.specifier.startsWith('node:')) return !builtinModules.includes(i.specifier.slice(5));
      return !deps.includes(packageOf(i.specifier));
    });
    expect(broken.map(where)).toEqual([]);
  });

  it("core's dependencies hold no framework and no WebSocket library", () => {
    expect(Object.keys(pkg.dependencies).filter((name) => FRAMEWORKS.includes(name))).toEqual([]);
  });
});

/** The source and test files of kelpie's packages, apps and tooling, with the package folder of each. */
function workspaceFiles(): { dir: string; file: string }[] {
  const dirs = ['packages', 'apps', 'tooling'].flatMap((group) =>
    readdirSync(join(repo, group), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${group}/${entry.name}`),
  );
  return dirs.flatMap((dir) =>
    ['src', 'test'].flatMap((sub) => sourceFiles(join(repo, dir, sub)).map((file) => ({ dir, file }))),
  );
}

/** Worker classes and adapters: what a third party writes, so they show what the public entry must hold. */
const isPluginPackage = (dir: string) =>
  (/^packages\/(worker|adapter)-/.test(dir) && dir !== 'packages/worker-testkit') || dir === 'apps/worker-template';
/** kelpie's own tools, which may use `@kelpie/core/internal` (no compatibility promise). */
const mayUseInternal = (dir: string) =>
  dir === 'packages/kelpie' || dir === 'packages/worker-testkit' || dir.startsWith('apps/');

describe("the use of @kelpie/core by kelpie's other packages", () => {
  const uses = workspaceFiles()
    .filter(({ dir }) => dir !== 'packages/core')
    .flatMap(({ dir, file }) =>
      importsOf(file).map((i) => ({
        ...i,
        dir,
        file: relative(repo, file),
        into: resolve(dirname(file), i.specifier),
      })),
    );
  const intoCore = (i: (typeof uses)[number]) =>
    i.specifier.startsWith('.') && (i.into + sep).startsWith(core) && i.into !== core.slice(0, -1);

  it('worker classes and adapters import only the public entry, `@kelpie/core`', () => {
    const broken = uses.filter(
      (i) => isPluginPackage(i.dir) && (i.specifier.startsWith('@kelpie/core/') || intoCore(i)),
    );
    expect(broken.map(where)).toEqual([]);
  });

  it('only the kelpie command, the worker testkit and the apps import `@kelpie/core/internal`', () => {
    const broken = uses.filter((i) => i.specifier === '@kelpie/core/internal' && !mayUseInternal(i.dir));
    expect(broken.map(where)).toEqual([]);
  });

  it("no package reaches into core's files (only `@kelpie/core` and `@kelpie/core/internal`)", () => {
    const broken = uses.filter(
      (i) => (i.specifier.startsWith('@kelpie/core/') && i.specifier !== '@kelpie/core/internal') || intoCore(i),
    );
    expect(broken.map(where)).toEqual([]);
  });
});
