import { pathToFileURL } from 'node:url';
import { ACCEPTED_SHAPES, type App, type AppOptions, describeValue, isAppShape, toApp } from './app.js';
import { KelpieError } from './errors.js';
import { isPathSpecifier, resolveFile, resolvePackage } from './resolve-module.js';

/** A parsed APP_MODULE: `path/or/package[:export]`, where export may be `name()` or `name(args)`. */
export interface AppModuleSpec {
  target: string;
  /** Property path of the export (`app`, `server.app`); undefined means default, then app. */
  exportPath?: string[];
  /** Call the export with these arguments (`:create()`, `:create("prod", 2)`). */
  factoryArgs?: unknown[];
}

export function parseAppModule(text: string): AppModuleSpec {
  const match = /^(.+?):([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?:\((.*)\))?$/s.exec(text.trim());
  if (!match) return { target: text.trim() };
  const [, target, name, args] = match as unknown as [string, string, string, string | undefined];
  const spec: AppModuleSpec = { target, exportPath: name.split('.') };
  if (args !== undefined) {
    try {
      spec.factoryArgs = args.trim() ? (JSON.parse(`[${args}]`) as unknown[]) : [];
    } catch (error) {
      throw new KelpieError(
        'KELPIE_ERR_USAGE',
        `APP_MODULE ${text}: factory arguments must be JSON literals, e.g. ${name}("prod", 2)`,
        { cause: error },
      );
    }
  }
  return spec;
}

/** The file an APP_MODULE target names, resolved from `cwd`: a path first, then a package. */
export function resolveAppFile(target: string, cwd: string): string {
  const { file, tried } = resolveFile(target, cwd);
  if (file) return file;
  if (!isPathSpecifier(target)) {
    const pkg = resolvePackage(target, cwd);
    if (pkg) return pkg;
    tried.push(`package "${target}" from ${cwd}`);
  }
  throw new KelpieError(
    'KELPIE_ERR_APP_NOT_FOUND',
    `Cannot find the app module "${target}". Tried:\n  ${tried.join('\n  ')}`,
  );
}

function walk(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || current === undefined) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function listExports(mod: Record<string, unknown>): string {
  const names = Object.keys(mod);
  if (!names.length) return 'no exports at all';
  return names.map((name) => `${name}: ${describeValue(mod[name])}`).join('; ');
}

/**
 * Load the app named by APP_MODULE: import the module (ESM or CommonJS), pick the export, call
 * the factory if asked, and recognize its shape. Every failure is a KelpieError whose exit code
 * is 4 (APP_LOAD_ERROR).
 */
export async function loadApp(text: string, cwd: string, options: AppOptions = {}): Promise<App> {
  const spec = parseAppModule(text);
  const file = resolveAppFile(spec.target, cwd);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new KelpieError('KELPIE_ERR_APP_IMPORT', `Failed to import the app module ${file}: ${reason}`, {
      cause: error,
    });
  }

  let value: unknown;
  let label: string;
  if (spec.exportPath) {
    label = spec.exportPath.join('.');
    value = walk(mod, spec.exportPath);
    // CommonJS: named properties of module.exports may only be visible through `default`.
    if (value === undefined) value = walk(mod.default, spec.exportPath);
    if (value === undefined) {
      throw new KelpieError(
        'KELPIE_ERR_APP_EXPORT',
        `The app module ${file} has no export "${label}". Found: ${listExports(mod)}.`,
      );
    }
  } else {
    const candidates: [string, unknown][] = [
      ['default', mod.default],
      ['app', mod.app],
      ['default.app', walk(mod.default, ['app'])],
    ];
    const found = candidates.find(([, v]) => isAppShape(v));
    if (!found) {
      throw new KelpieError(
        'KELPIE_ERR_APP_EXPORT',
        `The app module ${file} exports no usable app (looked for "default", "app", then "default.app"). Found: ${listExports(mod)}. ` +
          `Accepted: ${ACCEPTED_SHAPES}.`,
      );
    }
    [label, value] = found;
  }

  if (spec.factoryArgs) {
    if (typeof value !== 'function') {
      throw new KelpieError(
        'KELPIE_ERR_APP_FACTORY',
        `${label} in ${file} is ${describeValue(value)}, not a factory function.`,
      );
    }
    try {
      value = await (value as (...args: unknown[]) => unknown)(...spec.factoryArgs);
    } catch (error) {
      throw new KelpieError('KELPIE_ERR_APP_FACTORY', `The app factory ${label}() in ${file} threw: ${String(error)}`, {
        cause: error,
      });
    }
  }

  const app = toApp(value, options, mod);
  if (!app) {
    throw new KelpieError(
      spec.factoryArgs ? 'KELPIE_ERR_APP_FACTORY' : 'KELPIE_ERR_APP_EXPORT',
      `${label}${spec.factoryArgs ? '()' : ''} in ${file} is ${describeValue(value)}, which is not an app. Accepted: ${ACCEPTED_SHAPES}.`,
    );
  }
  return app;
}
