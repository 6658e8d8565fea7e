import { account, invalid, nonEmptyString, oneOf, ranged, stringList, umaskValue } from './parsers.js';
import { define, restartOnly, switchSetting } from './setting-def.js';

/**
 * The arbiter process: the config file, reloading, daemonizing, identity, directory and environment (sections Config File, Debugging, Server Mechanics and Process Naming).
 * Entries of the settings table (settings.ts assembles them, in the order of --help and docs/settings.md).
 */

/** Config File. */
export const configFileSettings = {
  config: define<string | null>({
    section: 'Config File',
    flags: ['-c', '--config'],
    meta: 'FILE',
    default: () => null,
    defaultText: './kelpie.config.{ts,mts,js,mjs,cjs} when present',
    parse: nonEmptyString,
    help: 'The config file: a module exporting defineConfig({...}) with settings and server hooks.',
    doc: 'Without this flag, the first of `kelpie.config.ts`, `.mts`, `.js`, `.mjs`, `.cjs` found in the current directory is used. Settings in the file override the defaults and the environment (`PORT`, `WEB_CONCURRENCY`); `KELPIE_CMD_ARGS` and the command line override the file. TypeScript config files load on every supported Node version. See docs/config.md.',
  }),
  checkConfig: switchSetting(
    'Config File',
    ['--check-config'],
    'Check the configuration, the worker class and the app, then exit: 0 if they are fine.',
  ),
  printConfig: switchSetting(
    'Config File',
    ['--print-config'],
    'Print every effective setting and where its value came from, then exit.',
  ),
} as const;

/** Debugging, Server Mechanics and Process Naming. */
export const processSettings = {
  reload: switchSetting(
    'Debugging',
    ['--reload'],
    "Replace the workers when a file of the app's directory changes (development).",
    "The arbiter watches the app's directory (recursively, without `node_modules` and dot-folders) and the `--reload-extra-file` files; changes within 300 ms are grouped into one reload, performed as HUP does it: new workers, then the old ones retire.",
  ),
  reloadExtraFile: define<string[]>({
    section: 'Debugging',
    flags: ['--reload-extra-file'],
    meta: 'FILE',
    multiple: true,
    default: () => [],
    defaultText: 'none',
    parse: stringList(),
    help: 'Also reload when this file changes (with --reload). Repeatable.',
  }),
  preload: switchSetting(
    'Server Mechanics',
    ['--preload'],
    'Load the app in the arbiter before starting workers, so a broken app fails before anything serves.',
    'Node cannot fork a process with its heap, so unlike Gunicorn this shares no memory with the workers: each worker still loads the app. What it gives is a fail-fast check (exit 4 before binding) and a warm module cache on disk. The app is loaded once, at start; the startup and shutdown hooks do not run in the arbiter.',
  ),
  daemon: restartOnly(
    switchSetting(
      'Server Mechanics',
      ['-D', '--daemon'],
      'Detach from the terminal and run in the background.',
      'The kelpie command starts a detached copy of itself in a new session, with standard input, output and error on /dev/null, relays the log lines of the copy until it has bound its addresses, and exits 0; a copy that fails to start makes it exit with the same status. Use `--pid` to find it later. What the daemon logs after that point is discarded; to keep it, run kelpie in the foreground under a supervisor (systemd, a container runtime), which collects its output.',
    ),
  ),
  pidfile: restartOnly(
    define<string | null>({
      section: 'Server Mechanics',
      flags: ['-p', '--pid'],
      meta: 'FILE',
      default: () => null,
      defaultText: 'none',
      parse: nonEmptyString,
      help: "Write the arbiter's pid to this file; refuse to start while it names a live process.",
      doc: 'The file is written atomically before the addresses are bound (a second server with the same file stops there, without touching the sockets) and removed at exit (only if it still holds this pid). A new arbiter started by USR2 writes FILE.2 and renames it to FILE when the old arbiter exits. kelpie never follows a symbolic link there: a link, or anything but a regular file, at FILE makes it refuse to start, and its temporary file gets a random name and is created exclusively (docs/security.md).',
    }),
  ),
  user: restartOnly(
    define<string | number | null>({
      section: 'Server Mechanics',
      flags: ['-u', '--user'],
      meta: 'USER',
      default: () => null,
      defaultText: 'the current user',
      parse: account,
      help: 'Run the workers as this user (name or uid); the arbiter binds first, so privileged ports work.',
    }),
  ),
  group: restartOnly(
    define<string | number | null>({
      section: 'Server Mechanics',
      flags: ['-g', '--group'],
      meta: 'GROUP',
      default: () => null,
      defaultText: "the user's group",
      parse: account,
      help: 'Run the workers as this group (name or gid).',
    }),
  ),
  umask: restartOnly(
    define<number | null>({
      section: 'Server Mechanics',
      flags: ['-m', '--umask'],
      meta: 'INT',
      default: () => null,
      defaultText: 'inherited',
      parse: ranged(umaskValue, { min: 0, max: 0o777, text: '0 to 0777 (octal)' }),
      help: 'Set the file mode creation mask of the arbiter and workers (octal, e.g. 022); affects unix socket modes.',
    }),
  ),
  chdir: restartOnly(
    define<string>({
      section: 'Server Mechanics',
      flags: ['--chdir'],
      meta: 'DIR',
      default: () => process.cwd(),
      defaultText: 'the current directory',
      parse: nonEmptyString,
      help: 'Change to this directory before loading the app and resolving worker classes.',
    }),
  ),
  env: define<string[]>({
    section: 'Server Mechanics',
    flags: ['-e', '--env'],
    meta: 'KEY=VALUE',
    multiple: true,
    default: () => [],
    defaultText: 'none',
    parse: stringList((value, name) => {
      if (!/^[^=\s]+=/.test(value)) throw invalid(name, value, 'KEY=VALUE');
    }),
    help: 'Set an environment variable in the arbiter and the workers. Repeatable.',
  }),
  extraListen: define<'refuse' | 'bind'>({
    section: 'Server Mechanics',
    flags: ['--extra-listen'],
    meta: 'POLICY',
    default: () => 'refuse',
    defaultText: 'refuse',
    parse: oneOf(['refuse', 'bind'] as const),
    help: 'What a second HTTP server the app listens with gets (an admin or metrics port): refuse (not opened, with a warning) or bind (opened as the app asks, in every worker, with a warning).',
    doc: "An app that calls `listen()` itself is served on kelpie's binds: its first HTTP server's listen never binds (SPEC.md 1.11). Another listen on the same port (Fastify's second address for `localhost`) is the same server. A listen on another port or path is a second server: with `refuse` it acts as listening (its `address()` is what it asked for) but is never reachable, and each worker logs a warning naming the port; with `bind` it is opened as asked in every worker, outside kelpie's request limits, access log, metrics and graceful drain. A fixed port is then bound with SO_REUSEPORT by every worker, so the kernel spreads its connections, where Node has `reusePort` (22.12 and later); on older Node one worker holds it and the others' listen fails with EADDRINUSE (the app's error handling decides). Servers that are not HTTP (`net.createServer`) are always left alone, with a warning when they listen beyond loopback.",
  }),
  procName: define<string | null>({
    section: 'Process Naming',
    flags: ['-n', '--name'],
    meta: 'STRING',
    default: () => null,
    defaultText: 'the APP_MODULE',
    parse: nonEmptyString,
    help: 'A base to use for process titles (kelpie: master [NAME]).',
  }),
} as const;
