import { type ParseArgsConfig, parseArgs } from 'node:util';
import { isKelpieError, KelpieError } from '../errors.js';
import { findConfigFile, type LoadedConfig, loadConfigFile } from './config-file.js';
import { configTimeoutMs } from './deadline.js';
import type { ServerHooks } from './hooks.js';
import { reusePortSupported } from './reuse-port.js';
import {
  defaultSettings,
  type Env,
  rangeOf,
  rangeText,
  type SettingDef,
  type SettingName,
  type Settings,
  settings,
} from './settings.js';

/** What a kelpie command line asks for. */
export interface CommandLine {
  settings: Settings;
  /** The APP_MODULE positional, when given. */
  appModule: string | undefined;
  help: boolean;
  version: boolean;
  /** Which settings were set explicitly, and from where (for --print-config and logs). */
  sources: Partial<Record<SettingName, SettingSource>>;
}

/** Where a setting's value came from: KELPIE_CMD_ARGS (`env`), the config file, or the command line. */
export type SettingSource = 'env' | 'config' | 'cli';

type Entries = [SettingName, SettingDef<unknown>][];
const entries = (): Entries => Object.entries(settings) as Entries;

function optionKey(def: SettingDef<unknown>): string {
  const long = def.flags.find((f) => f.startsWith('--'));
  if (!long) throw new Error(`setting without a long flag: ${def.flags.join(', ')}`);
  return long.slice(2);
}

function parseOptions(): ParseArgsConfig['options'] {
  const options: NonNullable<ParseArgsConfig['options']> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  for (const [, def] of entries()) {
    const short = def.flags.find((f) => /^-[^-]$/.test(f));
    options[optionKey(def)] = {
      type: def.boolean ? 'boolean' : 'string',
      ...(short ? { short: short.slice(1) } : {}),
      ...(def.multiple ? { multiple: true } : {}),
    };
  }
  return options;
}

/**
 * Split KELPIE_CMD_ARGS like a POSIX shell would split words: whitespace separates, single and
 * double quotes group, backslash escapes. No expansion of any kind.
 */
export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (quote) {
    throw new KelpieError('KELPIE_ERR_USAGE', `KELPIE_CMD_ARGS has an unclosed ${quote} quote: ${text}`);
  }
  if (inWord) words.push(current);
  return words;
}

interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Gunicorn's bare `--proxy-protocol` means auto: give it its value when the next word is not one. */
function withProxyProtocolValue(args: string[]): string[] {
  return args.flatMap((arg, i) =>
    arg === '--proxy-protocol' && !/^(off|v1|v2|auto)$/i.test(args[i + 1] ?? '') ? [arg, 'auto'] : [arg],
  );
}

/**
 * `-w -1` and `--timeout -5`: parseArgs takes a value that starts with a dash for a flag and
 * refuses it as ambiguous. A negative number after a flag that takes a value is that flag's value
 * (`--workers=-1`), so the setting's own check names the flag and what it allows.
 */
function withNegativeValues(args: string[]): string[] {
  const takesValue = new Map<string, string>();
  for (const [, def] of entries()) {
    if (!def.boolean) for (const flag of def.flags) takesValue.set(flag, `--${optionKey(def)}`);
  }
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const long = takesValue.get(arg);
    const next = args[i + 1];
    if (long && next !== undefined && /^-\.?\d/.test(next)) {
      out.push(`${long}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
    if (arg === '--') {
      out.push(...args.slice(i + 1));
      break;
    }
  }
  return out;
}

function parseWords(args: string[], origin: string): Parsed {
  try {
    return parseArgs({
      args: withProxyProtocolValue(withNegativeValues(args)),
      options: parseOptions(),
      allowPositionals: true,
      strict: true,
    }) as Parsed;
  } catch (error) {
    const full = error instanceof Error ? error.message : String(error);
    // Node's advice on positionals that start with a dash does not apply: APP_MODULE never does.
    const unknown = /^Unknown option '([^']+)'/.exec(full);
    const message = unknown ? `Unknown option '${unknown[1]}'` : full;
    // PM2's flag, as users moving from it type it.
    const pm2 = unknown && /^(-i|--instances)$/.test(unknown[1] as string) ? ' (kelpie: -w N or --workers N)' : '';
    throw new KelpieError('KELPIE_ERR_USAGE', `${origin}: ${message}${pm2}`, { cause: error });
  }
}

function apply(target: Settings, parsed: Parsed, source: SettingSource, sources: CommandLine['sources']): void {
  for (const [name, def] of entries()) {
    const raw = parsed.values[optionKey(def)];
    if (raw === undefined) continue;
    const flag = `--${optionKey(def)}`;
    try {
      (target as Record<string, unknown>)[name] = def.parse(
        raw,
        source === 'env' ? `${flag} (from KELPIE_CMD_ARGS)` : flag,
      );
    } catch (error) {
      if (isKelpieError(error)) throw error;
      throw new KelpieError('KELPIE_ERR_INVALID_SETTING', `Invalid value for ${flag}: ${String(raw)}`, {
        cause: error,
      });
    }
    sources[name] = source;
  }
}

/**
 * Parse a kelpie command line. Precedence, lowest first: defaults (some from PORT and
 * WEB_CONCURRENCY), the config file's settings (`fromConfig`), KELPIE_CMD_ARGS, the command line
 * itself, as in Gunicorn. `resolveConfiguration` finds and loads the config file first.
 */
export function parseCommandLine(
  argv: readonly string[],
  env: Env = process.env,
  fromConfig: Partial<Settings> = {},
  { check = true }: { check?: boolean } = {},
): CommandLine {
  const result: CommandLine = {
    settings: { ...defaultSettings(env), ...fromConfig },
    appModule: undefined,
    help: false,
    version: false,
    sources: Object.fromEntries(Object.keys(fromConfig).map((name) => [name, 'config'])),
  };
  const layers: [Parsed, 'env' | 'cli'][] = [];
  if (env.KELPIE_CMD_ARGS?.trim()) {
    layers.push([parseWords(splitShellWords(env.KELPIE_CMD_ARGS), 'KELPIE_CMD_ARGS'), 'env']);
  }
  layers.push([parseWords([...argv], 'command line'), 'cli']);
  for (const [parsed, source] of layers) {
    if (parsed.values.help) result.help = true;
    if (parsed.values.version) result.version = true;
    if (parsed.positionals.length > 1) {
      throw new KelpieError(
        'KELPIE_ERR_USAGE',
        `Expected one APP_MODULE, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`,
      );
    }
    if (parsed.positionals[0] !== undefined) result.appModule = parsed.positionals[0];
    apply(result.settings, parsed, source, result.sources);
  }
  // Settings that go together are checked on the whole: resolveConfiguration's first pass, before
  // the config file is merged, skips it (a certfile there and --http-protocols h2 here are fine).
  if (check) checkCombinations(result.settings);
  return result;
}

export { reusePortSupported };

/** Settings that only make sense together. */
function checkCombinations(s: Settings): void {
  const fail = (message: string) => {
    throw new KelpieError('KELPIE_ERR_INVALID_SETTING', message);
  };
  if (s.certfile && !s.keyfile) fail('--certfile needs --keyfile (the private key of the certificate).');
  if (s.keyfile && !s.certfile) fail('--keyfile needs --certfile (the certificate it belongs to).');
  const tls = Boolean(s.certfile);
  if (!tls && s.certReqs !== 'none') fail(`--cert-reqs ${s.certReqs} needs TLS: set --certfile and --keyfile.`);
  if (!tls && s.caCerts) fail('--ca-certs needs TLS: set --certfile and --keyfile.');
  if (!tls && s.ciphers) fail('--ciphers needs TLS: set --certfile and --keyfile.');
  if (s.certReqs !== 'none' && !s.caCerts) {
    fail(`--cert-reqs ${s.certReqs} needs --ca-certs: the CA certificates client certificates are checked against.`);
  }
  if (s.httpProtocols.includes('h2') && !tls) {
    fail(
      `Invalid value for --http-protocols: "${s.httpProtocols.join(',')}". HTTP/2 is served over TLS only: set --certfile and --keyfile, or use h1.`,
    );
  }
  if (s.reusePort && !reusePortSupported()) {
    throw new KelpieError(
      'KELPIE_ERR_INVALID_SETTING',
      `--reuse-port needs Node.js 22.12 or later (SO_REUSEPORT in net.Server.listen); this is Node.js ${process.versions.node}. Run without --reuse-port, or upgrade Node.js.`,
    );
  }
}

/** The --help text, generated from the settings table. */
export function helpText(): string {
  const lines = [
    'usage: kelpie [OPTIONS] APP_MODULE',
    '',
    'APP_MODULE is path/to/file[:export] or package[:export]; :factory() calls a factory.',
    'It may also be a file that starts its own server (app.listen(), a NestJS or Next.js entry):',
    'its listen binds nothing and kelpie serves that server on its own binds (docs/frameworks.md).',
    '',
  ];
  const sections = new Map<string, string[][]>();
  for (const [, def] of entries()) {
    const flags = def.flags.join(', ') + (def.meta ? ` ${def.meta}` : '');
    const rows = sections.get(def.section) ?? [];
    const range = rangeOf(def);
    rows.push([flags, `${def.help} [${def.defaultText}${range ? `; ${rangeText(range)}` : ''}]`]);
    sections.set(def.section, rows);
  }
  sections.set('Other', [
    ['-h, --help', 'Show this help and exit.'],
    ['-v, --version', 'Show the version and exit.'],
  ]);
  const width = Math.max(...[...sections.values()].flat().map(([f]) => (f as string).length)) + 2;
  for (const [section, rows] of sections) {
    lines.push(`${section}:`);
    for (const [flags, help] of rows) lines.push(`  ${(flags as string).padEnd(width)}${help}`);
    lines.push('');
  }
  lines.push('Environment: PORT, WEB_CONCURRENCY, KELPIE_CMD_ARGS (extra options, as on the command line),');
  lines.push('  KELPIE_CONFIG_TIMEOUT (seconds kelpie waits for config-file code and awaited hooks; 60, 0 for none).');
  lines.push('Workers get PORT and HOST (the first TCP bind) and NODE_ENV=production unless it is set.');
  lines.push("KELPIE_LISTEN_CAPTURE=channel|patch forces how an app's own listen() is captured (SPEC.md 1.11).");
  lines.push('A running server: kelpie ctl status|top|reload|workers add N|... (kelpie ctl --help).');
  return `${lines.join('\n')}\n`;
}

/** A command line with its config file applied. */
export interface Configuration extends CommandLine {
  /** The config file in effect, if any. */
  configFile: LoadedConfig | undefined;
  /** The config file's server hooks (empty without one). */
  hooks: ServerHooks;
}

/**
 * The whole configuration, as the kelpie command and a HUP build it: parse the command line and
 * KELPIE_CMD_ARGS to learn `--config`, load that file (or the default `kelpie.config.*` in `cwd`),
 * then parse again with the file's settings under KELPIE_CMD_ARGS and the command line. The
 * config file's `app` is the APP_MODULE when the command line names none.
 */
export async function resolveConfiguration(
  argv: readonly string[],
  env: Env = process.env,
  cwd: string = process.cwd(),
): Promise<Configuration> {
  const first = parseCommandLine(argv, env, {}, { check: false });
  if (first.help || first.version) return { ...first, configFile: undefined, hooks: {} };
  // Checked with or without a config file: a bad value is refused, never ignored.
  const timeoutMs = configTimeoutMs(env);
  const file = findConfigFile(first.settings.config, cwd);
  if (!file) {
    checkCombinations(first.settings);
    return { ...first, configFile: undefined, hooks: {} };
  }
  const configFile = await loadConfigFile(file, { timeoutMs });
  const result = parseCommandLine(argv, env, configFile.settings);
  result.settings.config = file;
  return { ...result, appModule: result.appModule ?? configFile.app, configFile, hooks: configFile.hooks };
}

/** The --print-config text: every setting, its value and where the value came from. */
export function printConfigText(configuration: Configuration): string {
  const names = Object.keys(settings) as SettingName[];
  const width = Math.max(...names.map((n) => n.length)) + 1;
  const lines = [
    `# config file: ${configuration.configFile?.path ?? 'none'}`,
    `# app: ${configuration.appModule ?? '(none)'}`,
    `# hooks: ${Object.keys(configuration.hooks).join(', ') || 'none'}`,
  ];
  const origin = { env: 'KELPIE_CMD_ARGS', config: 'config file', cli: 'command line' } as const;
  for (const name of names) {
    const source = configuration.sources[name];
    lines.push(
      `${name.padEnd(width)}= ${JSON.stringify(configuration.settings[name])}${source ? `  # ${origin[source]}` : ''}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
