import type { BuiltinWorkerClass } from './builtin-plugins.js';
import type { Env, SettingDef } from './setting-def.js';
import { frameworkSettings, limitSettings } from './settings-http.js';
import { loggingSettings } from './settings-logging.js';
import { configFileSettings, processSettings } from './settings-process.js';
import { socketSettings } from './settings-sockets.js';
import { crashLoopSettings, workerSettings } from './settings-workers.js';

/**
 * The settings table. Every setting is declared once: its flags, default, validation, whether HUP
 * can change it, and its help text. The CLI parser, `--help`, KELPIE_CMD_ARGS, the config file,
 * the effective configuration and docs/settings.md are all derived from it (Gunicorn's config.py
 * plays the same role). The entries live in settings-*.ts by concern, their value parsers in
 * parsers.ts; config/ imports no feature module (no http/, observability/, app/, worker/...).
 */

export { type AppInterface, LOG_LEVELS, type LogLevel } from './choices.js';
export {
  MAX_WORKERS,
  type NumericRange,
  rangeText,
  seconds,
  TIMER_MAX_MS,
  TIMER_MAX_SECONDS,
} from './parsers.js';
export { type Env, rangeOf, type SettingDef } from './setting-def.js';
export { defaultControlSocket } from './settings-logging.js';

/** The table, in the order of --help and docs/settings.md (a section may come back, as Worker Processes does). */
export const settings = {
  ...socketSettings,
  ...workerSettings,
  ...frameworkSettings,
  ...limitSettings,
  ...configFileSettings,
  ...crashLoopSettings,
  ...processSettings,
  ...loggingSettings,
} as const;

export type SettingName = keyof typeof settings;

/** The settings a HUP cannot change (`onHup: 'restart'` in the table). */
export const RESTART_ONLY_SETTINGS: readonly SettingName[] = (
  Object.entries(settings) as [SettingName, SettingDef<unknown>][]
)
  .filter(([, def]) => def.onHup === 'restart')
  .map(([name]) => name);

/** The effective settings: one value per entry of the table. */
export type Settings = {
  -readonly [K in SettingName]: (typeof settings)[K] extends SettingDef<infer T> ? T : never;
};

const SYNC: BuiltinWorkerClass = 'sync';
const THREADS: BuiltinWorkerClass = 'threads';

/**
 * The worker class the settings ask for. As in Gunicorn, the sync class with more than one thread
 * means the threaded class.
 */
export function effectiveWorkerClass(values: Pick<Settings, 'workerClass' | 'threads'>): string {
  return values.workerClass === SYNC && values.threads > 1 ? THREADS : values.workerClass;
}

/** Settings with their values parsed, defaults applied from the given environment. */
export function defaultSettings(env: Env = process.env): Settings {
  const out: Record<string, unknown> = {};
  for (const [name, def] of Object.entries(settings) as [SettingName, SettingDef<unknown>][]) {
    out[name] = def.default(env);
  }
  return out as Settings;
}
