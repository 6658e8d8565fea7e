import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/**
 * Package resolution from a given folder, for worker classes and app modules: walk up the
 * node_modules folders and read the package's `exports` map (import condition first), falling
 * back to `require.resolve` for what that does not cover.
 */

/** The conditions Node's ESM resolver matches when kelpie imports a package. */
const ACTIVE_CONDITIONS = new Set(['node', 'import', 'module-sync', 'default']);

type ExportsValue = string | null | { [condition: string]: ExportsValue } | ExportsValue[];

function pickTarget(value: ExportsValue | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (!value || Array.isArray(value)) return Array.isArray(value) ? pickTarget(value[0]) : undefined;
  const keys = Object.keys(value);
  // An exports map: { ".": … } – take the root entry.
  if (keys.some((k) => k.startsWith('.'))) return pickTarget(value['.']);
  // Node's rule: the first key, in the map's own order, that names an active condition.
  for (const [condition, target] of Object.entries(value)) {
    if (!ACTIVE_CONDITIONS.has(condition)) continue;
    const found = pickTarget(target);
    if (found) return found;
  }
  return undefined;
}

function splitPackageName(specifier: string): { name: string; subpath: string } {
  const parts = specifier.split('/');
  const count = specifier.startsWith('@') ? 2 : 1;
  return { name: parts.slice(0, count).join('/'), subpath: parts.slice(count).join('/') };
}

function findInNodeModules(specifier: string, fromDir: string): string | undefined {
  const { name, subpath } = splitPackageName(specifier);
  for (let dir = resolve(fromDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', name);
    const manifest = join(pkgDir, 'package.json');
    if (existsSync(manifest)) {
      if (subpath) return existsSync(join(pkgDir, subpath)) ? join(pkgDir, subpath) : undefined;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as {
        exports?: ExportsValue;
        module?: string;
        main?: string;
      };
      const target = pickTarget(pkg.exports) ?? pkg.module ?? pkg.main ?? 'index.js';
      const file = join(pkgDir, target);
      return existsSync(file) ? file : undefined;
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Absolute file of a package specifier as seen from `fromDir`, or undefined when it is not
 * installed there. The ESM entry is preferred, so kelpie and the packages it loads share one
 * copy of @kelpie/core.
 */
export function resolvePackage(specifier: string, fromDir: string): string | undefined {
  const found = findInNodeModules(specifier, fromDir);
  if (found) return found;
  try {
    return createRequire(join(resolve(fromDir), 'noop.js')).resolve(specifier);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined;
    throw error;
  }
}

/** True when the specifier is meant as a file path rather than a package name. */
export function isPathSpecifier(specifier: string): boolean {
  return specifier.startsWith('.') || specifier.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(specifier);
}

const EXTENSIONS = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

/** An existing file for a path, trying the usual extensions and an index file. */
export function resolveFile(path: string, cwd: string): { file?: string; tried: string[] } {
  const base = resolve(cwd, path);
  const tried: string[] = [];
  const candidates = [
    ...EXTENSIONS.map((ext) => base + ext),
    ...['index.js', 'index.mjs', 'index.cjs'].map((f) => join(base, f)),
  ];
  for (const candidate of candidates) {
    tried.push(candidate);
    try {
      if (statSync(candidate).isFile()) return { file: candidate, tried };
    } catch {
      // Not there: next candidate.
    }
  }
  return { tried };
}
