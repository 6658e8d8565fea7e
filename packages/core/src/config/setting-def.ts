/**
 * What a setting is: the shape of one entry of the settings table (settings.ts assembles the
 * table from the settings-*.ts files), and the helpers that declare entries.
 */

import { type NumericRange, onOff } from './parsers.js';

export type Env = Record<string, string | undefined>;

export interface SettingDef<T> {
  /** Section in --help and the docs, as in Gunicorn's settings reference. */
  readonly section: string;
  /** Command-line flags, long first is not required: `['-w', '--workers']`. */
  readonly flags: readonly string[];
  /** Placeholder for the value in --help (`INT`, `ADDRESS`); absent for switches. */
  readonly meta?: string;
  /** Repeatable flag whose values accumulate into a list. */
  readonly multiple?: boolean;
  /** A switch that takes no value. */
  readonly boolean?: boolean;
  /** Default, computed from the environment (PORT, WEB_CONCURRENCY). */
  readonly default: (env: Env) => T;
  /** How the default reads in --help and the docs. */
  readonly defaultText: string;
  /** Turn a raw value (a string from the CLI, or a config-file value) into T; throw on bad input. */
  readonly parse: (raw: unknown, name: string) => T;
  /** One line for --help. */
  readonly help: string;
  /** Longer explanation for the docs. */
  readonly doc?: string;
  /**
   * `restart`: HUP cannot change it (the arbiter keeps the old value and says so); a new value
   * takes effect on a restart or USR2. Absent: a HUP applies the new value.
   */
  readonly onHup?: 'restart';
}

/** Declare one setting; the type parameter is the parsed value's type. */
export function define<T>(def: SettingDef<T>): SettingDef<T> {
  return def;
}

/** A setting HUP cannot change: sockets, identity, files and servers opened once at start. */
export function restartOnly<T>(def: SettingDef<T>): SettingDef<T> {
  return { ...def, onHup: 'restart' };
}

/** A switch: off unless given. */
export function switchSetting(section: string, flags: string[], help: string, doc?: string): SettingDef<boolean> {
  return define<boolean>({
    section,
    flags,
    boolean: true,
    default: () => false,
    defaultText: 'off',
    parse: onOff,
    help,
    ...(doc ? { doc } : {}),
  });
}

/** The range a setting's parser enforces, for numeric settings. */
export function rangeOf(def: SettingDef<unknown>): NumericRange | undefined {
  return (def.parse as { range?: NumericRange }).range;
}
