import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isKelpieError, KelpieError } from '../errors.js';
import { configTimeoutMs, expiryText, settleWithin } from './deadline.js';
import { HOOK_NAMES, type HookName, type ServerHooks } from './hooks.js';
import type { SettingDef, SettingName, Settings } from './settings.js';

type Table = Record<string, SettingDef<unknown>>;

/**
 * The config file: a module whose default export is a plain object of settings (the camelCase
 * names of the settings table), server hooks (hooks.ts) and optionally `app` (the APP_MODULE).
 * Loaded with jiti, so TypeScript files work on every supported Node version and a HUP can read
 * the file again without Node's module cache getting in the way.
 */

/** Looked for in this order in the current directory when no -c/--config is given. */
export const CONFIG_FILE_NAMES = [
  'kelpie.config.ts',
  'kelpie.config.mts',
  'kelpie.config.js',
  'kelpie.config.mjs',
  'kelpie.config.cjs',
] as const;

/** Settings that make no sense inside a config file. */
const COMMAND_LINE_ONLY = ['config', 'checkConfig', 'printConfig'] as const satisfies readonly SettingName[];
type CommandLineOnly = (typeof COMMAND_LINE_ONLY)[number];
const isCommandLineOnly = (key: string): boolean => (COMMAND_LINE_ONLY as readonly string[]).includes(key);

/** What a config file may give for a setting: the value, or its text as on the command line. */
type ConfigValue<T> = T extends readonly string[]
  ? string | readonly string[]
  : T extends boolean
    ? boolean
    : T extends number | string | null
      ? Exclude<T, null> | string
      : T;

/** The shape `defineConfig` checks: settings, server hooks, and the app. */
export type KelpieConfig = {
  [K in Exclude<SettingName, CommandLineOnly>]?: ConfigValue<Settings[K]>;
} & ServerHooks & {
    /** The APP_MODULE, used when the command line names none (Gunicorn's `wsgi_app`). */
    app?: string;
  };

/** Type the config file's export: `export default defineConfig({ workers: 4, whenReady(server) {...} })`. */
export function defineConfig(config: KelpieConfig): KelpieConfig {
  return config;
}

export interface LoadedConfig {
  /** Absolute path of the file. */
  path: string;
  /** The settings it sets, parsed and checked. */
  settings: Partial<Settings>;
  hooks: ServerHooks;
  app: string | undefined;
}

/** The config file to use: `-c FILE` (must exist), else the first default name present in `dir`. */
export function findConfigFile(explicit: string | null, dir: string): string | undefined {
  if (explicit) {
    const file = resolve(dir, explicit);
    if (!existsSync(file))
      throw new KelpieError('KELPIE_ERR_CONFIG', `Config file not found: ${file} (from --config).`);
    return file;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = resolve(dir, name);
    if (existsSync(file)) return file;
  }
  return undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

const knownKeys = (table: Table): string[] => [
  ...Object.keys(table).filter((k) => !isCommandLineOnly(k)),
  ...HOOK_NAMES,
  'app',
];

/** The known key closest to an unknown one (snake_case and case differences forgiven). */
function suggestion(key: string, table: Table): string | undefined {
  const norm = (k: string) => k.replace(/[_-]/g, '').toLowerCase();
  let best: [string, number] | undefined;
  for (const known of knownKeys(table)) {
    const d = distance(norm(key), norm(known));
    if (!best || d < best[1]) best = [known, d];
  }
  return best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? best[0] : undefined;
}

let jitiImport: ((file: string) => Promise<unknown>) | undefined;
let loads = 0;

/**
 * Import the file fresh, bypassing the module caches, so a HUP sees its new contents. `.mjs` and
 * `.cjs` files load natively (an ESM URL made unique, the CommonJS cache entry dropped); `.ts`,
 * `.mts`, `.cts` and `.js` go through jiti, which compiles TypeScript on every Node version.
 */
async function importFresh(file: string): Promise<unknown> {
  const n = ++loads;
  if (file.endsWith('.mjs')) {
    return ((await import(`${pathToFileURL(file).href}?load=${n}`)) as { default?: unknown }).default;
  }
  if (file.endsWith('.cjs')) {
    const load = createRequire(file);
    delete load.cache[file];
    const exported = load(file) as { __esModule?: boolean; default?: unknown };
    return exported?.__esModule && 'default' in exported ? exported.default : exported;
  }
  if (!jitiImport) {
    const { createJiti } = await import('jiti');
    const jiti = createJiti(import.meta.url, { moduleCache: false, fsCache: false, interopDefault: true });
    jitiImport = (path) => jiti.import(path, { default: true });
  }
  return jitiImport(file);
}

/**
 * Load and check a config file. Every problem is a `KELPIE_ERR_CONFIG` error naming the file and
 * the key (exit 2), but a file whose loading never settles: `KELPIE_ERR_CONFIG_TIMEOUT` (exit 5)
 * after `timeoutMs` (KELPIE_CONFIG_TIMEOUT), or as soon as nothing is left that could settle it.
 */
export async function loadConfigFile(
  file: string,
  { timeoutMs = configTimeoutMs() }: { timeoutMs?: number } = {},
): Promise<LoadedConfig> {
  const name = basename(file);
  let value: unknown;
  try {
    value = await settleWithin(
      importFresh(file),
      timeoutMs,
      (expiry) =>
        new KelpieError(
          'KELPIE_ERR_CONFIG_TIMEOUT',
          `Config file ${file} did not finish loading: a top-level await, or its default export (a promise), is ${expiryText(expiry)}`,
        ),
    );
  } catch (error) {
    if (isKelpieError(error) && error.code === 'KELPIE_ERR_CONFIG_TIMEOUT') throw error;
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new KelpieError('KELPIE_ERR_CONFIG', `Error loading config file ${file}: ${reason}`, { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KelpieError(
      'KELPIE_ERR_CONFIG',
      `Config file ${file} must export an object (export default defineConfig({ ... })), got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}.`,
    );
  }
  // The settings table is imported here, not at the top: a worker process imports this module
  // (hooks, the public API) and needs the table only when it loads a config file itself.
  const table: Table = (await import('../optional-modules.js')).settingsTable.settings;
  const loaded: LoadedConfig = { path: file, settings: {}, hooks: {}, app: undefined };
  for (const [key, raw] of Object.entries(value)) {
    if (raw === undefined) continue;
    if ((HOOK_NAMES as readonly string[]).includes(key)) {
      if (typeof raw !== 'function') {
        throw new KelpieError(
          'KELPIE_ERR_CONFIG',
          `Hook "${key}" in ${name} must be a function, got ${raw === null ? 'null' : typeof raw}.`,
        );
      }
      loaded.hooks[key as HookName] = raw as never;
      continue;
    }
    if (key === 'app') {
      if (typeof raw !== 'string' || raw.trim() === '') {
        throw new KelpieError(
          'KELPIE_ERR_CONFIG',
          `"app" in ${name} must be an APP_MODULE string, got ${JSON.stringify(raw)}.`,
        );
      }
      loaded.app = raw;
      continue;
    }
    const def = table[key];
    if (!def || isCommandLineOnly(key)) {
      const hint = suggestion(key, table);
      throw new KelpieError(
        'KELPIE_ERR_CONFIG',
        `Unknown setting "${key}" in ${name}.${hint ? ` Did you mean "${hint}"?` : ''} Settings use the camelCase names of docs/settings.md; hooks are ${HOOK_NAMES.join(', ')}.`,
      );
    }
    try {
      (loaded.settings as Record<string, unknown>)[key] = def.parse(raw, `${key} (in ${name})`);
    } catch (error) {
      // Reported as a config file error: the message names the key, the file and what is allowed.
      const message = isKelpieError(error)
        ? error.message
        : `Invalid value for ${key} (in ${name}): ${JSON.stringify(raw)}`;
      throw new KelpieError('KELPIE_ERR_CONFIG', message, { cause: error });
    }
  }
  return loaded;
}
