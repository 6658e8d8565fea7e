import { pathToFileURL } from 'node:url';
import { BUILTIN_PLUGINS, type PluginKind } from '../config/builtin-plugins.js';
import { type ErrorCode, KelpieError } from '../errors.js';
import { isPathSpecifier, resolveFile, resolvePackage } from './resolve-module.js';

/**
 * Finding plugins (worker classes, adapters) by name. Kept apart from resolve-worker.ts so that
 * worker processes, which look adapters up, do not load semver unless an adapter is found.
 */

/** A `-k` (or `--adapter`) value that names a file: relative or absolute, or ending in a script extension. */
export function isPluginPath(name: string): boolean {
  return isPathSpecifier(name) || /\.(c|m)?[jt]s$/.test(name);
}

/** Short names expand through these prefixes, in order: `-k foo` tries `@kelpie/worker-foo`, then `kelpie-worker-foo`. */
export const PLUGIN_PREFIXES = {
  worker: ['@kelpie/worker-', 'kelpie-worker-'],
  adapter: ['@kelpie/adapter-', 'kelpie-adapter-'],
} as const satisfies Record<PluginKind, readonly string[]>;

/**
 * The package names a plugin value may mean, in the order they are tried, for a kind of plugin
 * (`worker`, `adapter`): `foo` → `@kelpie/worker-foo`, `kelpie-worker-foo`; `@acme/foo` →
 * `@acme/kelpie-worker-foo`, `@acme/foo`; `@acme` → `@acme/kelpie-worker`; full names as they are.
 */
export function pluginCandidates(name: string, kind: PluginKind): string[] {
  const prefixes = PLUGIN_PREFIXES[kind];
  if (isPluginPath(name)) return [name];
  if (name.startsWith('@')) {
    const [scope, rest] = name.split('/', 2) as [string, string | undefined];
    if (!rest) return [`${scope}/kelpie-${kind}`];
    return rest.startsWith(`kelpie-${kind}`) ? [name] : [`${scope}/kelpie-${kind}-${rest}`, name];
  }
  if (name.includes('/') || prefixes.some((p) => name.startsWith(p))) return [name];
  return prefixes.map((prefix) => prefix + name);
}

/** The file a plugin value names: a path, or the first candidate package found, project first. */
export function findPlugin(name: string, kind: PluginKind, searchFrom: readonly string[]): string | undefined {
  if (isPluginPath(name)) return resolveFile(name, searchFrom[0] ?? process.cwd()).file;
  // Every candidate in the user's project before any in kelpie's own install.
  for (const dir of searchFrom) {
    for (const candidate of pluginCandidates(name, kind)) {
      const file = resolvePackage(candidate, dir);
      if (file) return file;
    }
  }
  return undefined;
}

const LABELS = { worker: 'Worker class', adapter: 'Adapter' } as const satisfies Record<PluginKind, string>;

/** The package to suggest: kelpie's own for its names; for any other short name, the third-party form. */
function installName(name: string, kind: PluginKind, candidates: readonly string[]): string {
  if ((BUILTIN_PLUGINS[kind] as readonly string[]).includes(name)) return `@kelpie/${kind}-${name}`;
  return candidates.find((candidate) => !candidate.startsWith('@kelpie/')) ?? (candidates[0] as string);
}

/** The error for a plugin that is not installed: what was tried, where, and how to install it. */
export function pluginNotFound(
  name: string,
  kind: PluginKind,
  searchFrom: readonly string[],
  code: ErrorCode,
): KelpieError {
  const candidates = pluginCandidates(name, kind);
  const install = isPluginPath(name) ? '' : `\nInstall it with: npm install ${installName(name, kind, candidates)}`;
  return new KelpieError(
    code,
    `${LABELS[kind]} "${name}" not found.\nTried: ${candidates.join(', ')}\nSearched from: ${searchFrom.join(', ')}${install}`,
  );
}

/** Import a plugin's module; a module that throws is reported with `code`. */
export async function importPlugin(file: string, kind: PluginKind, code: ErrorCode): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new KelpieError(code, `Loading the ${kind} module ${file} failed: ${String(error)}`, { cause: error });
  }
}
