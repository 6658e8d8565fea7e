import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KelpieError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { isPathSpecifier, resolveFile, resolvePackage } from '../plugins/resolve-module.js';
import {
  ACCEPTED_SHAPES,
  type App,
  type AppOptions,
  describeValue,
  isAppShape,
  loadFetchBridge,
  serverApp,
  servesFetch,
  toApp,
  webSocketOnlyApp,
} from './app.js';
import type { ListenCapture } from './listen-capture.js';

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

export interface LoadAppOptions extends AppOptions {
  /**
   * Load the module as `node FILE` would run it: `process.argv[1]` names it and, for CommonJS,
   * `require.main` is the module, so an `if (require.main === module) app.listen()` runs.
   */
  asMain?: boolean;
  /** Serve a server the module starts itself (listen-capture.ts), started before the import. */
  capture?: ListenCapture;
  /** How long to wait for that server when the module exports no app, in seconds (default 30). */
  listenWait?: number;
  log?: Logger;
}

const requireBuiltin = createRequire(import.meta.url);

/** Whether Node reads `file` as CommonJS: `.cjs`, or `.js` whose nearest package.json has no `"type": "module"`. */
function isCommonJs(file: string): boolean {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: unknown }).type !== 'module';
    } catch (error) {
      // Unreadable or not JSON: Node's import() says what is wrong.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    }
    if (dirname(dir) === dir) return true;
  }
}

/** Refusals of `require()` that mean "this is an ES module" (Node's syntax detection, TLA). */
function isModuleRefusal(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE') return true;
  return (
    error instanceof SyntaxError && /import statement outside a module|Unexpected token 'export'/.test(error.message)
  );
}

/**
 * Import the app module; as the main module when asked (LoadAppOptions.asMain): CommonJS through
 * Node's own main-module load (`Module._load(file, null, true)`, as process managers do), with
 * the namespace `import()` would give (`default` is `module.exports`).
 */
async function importModule(file: string, asMain: boolean): Promise<Record<string, unknown>> {
  if (asMain) {
    process.argv[1] = file;
    if (isCommonJs(file)) {
      try {
        const load = (
          requireBuiltin('node:module') as { _load(request: string, parent: null, isMain: boolean): unknown }
        )._load;
        const exports = load(file, null, true);
        const named = exports !== null && (typeof exports === 'object' || typeof exports === 'function') ? exports : {};
        return { ...(named as Record<string, unknown>), default: exports };
      } catch (error) {
        if (!isModuleRefusal(error)) throw error;
      }
    }
  }
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** Known builds that export a handler and start no server, and how kelpie serves each. */
function frameworkHint(mod: Record<string, unknown>, target: string): string | undefined {
  const isObject = (value: unknown) => value !== null && typeof value === 'object';
  if (isObject(mod.routes) && isObject(mod.entry) && isObject(mod.assets)) {
    return `It looks like a React Router (or Remix) server build: serve a module that exports createRequestHandler(build) from react-router (docs/frameworks.md, React Router), or run the build's own server file.`;
  }
  for (const name of ['listener', 'handler', 'middleware']) {
    if (typeof mod[name] === 'function') {
      const which =
        name === 'listener'
          ? " (Nitro's node-listener build)"
          : name === 'handler'
            ? ' (SvelteKit build/handler.js, Astro middleware mode)'
            : '';
      // Nitro's node-listener build exports its WebSocket hooks beside the listener.
      const ws = mod.websocket !== undefined && mod.websocket !== null ? ' -k ws' : '';
      return `It exports a request handler "${name}"${which}: run kelpie${ws} ${target}:${name}.`;
    }
  }
  return undefined;
}

/**
 * Load the app named by APP_MODULE: import the module (ESM or CommonJS), pick the export, call
 * the factory if asked, and recognize its shape; or, with a listen capture, serve the server the
 * module starts itself (SPEC.md 1.11). Every failure is a KelpieError whose exit code is 4
 * (APP_LOAD_ERROR).
 */
export async function loadApp(text: string, cwd: string, options: LoadAppOptions = {}): Promise<App> {
  const spec = parseAppModule(text);
  const file = resolveAppFile(spec.target, cwd);
  // What keeps the event loop alive before the app runs: what it adds is its own pending work.
  // process.stdout and stderr open their handle at first use (a pipe's counts): opened now.
  void process.stdout;
  void process.stderr;
  const before = options.capture ? pendingWork() : undefined;
  const mod = await importAppModule(file, options.asMain === true);

  let picked: Picked | { app: App };
  if (spec.exportPath) {
    options.capture?.servingExport();
    picked = namedExport(mod, spec.exportPath, file);
  } else {
    picked = await defaultExport(mod, spec, file, options, before);
    if ('app' in picked) return picked.app;
  }
  const label = picked.label;
  let value = picked.value;
  if (spec.factoryArgs) value = await callFactory(value, spec.factoryArgs, label, file);

  if (servesFetch(value, options)) await loadFetchBridge();
  const app = toApp(value, options, mod);
  if (!app) {
    throw new KelpieError(
      spec.factoryArgs ? 'KELPIE_ERR_APP_FACTORY' : 'KELPIE_ERR_APP_EXPORT',
      `${label}${spec.factoryArgs ? '()' : ''} in ${file} is ${describeValue(value)}, which is not an app. Accepted: ${ACCEPTED_SHAPES}.`,
    );
  }
  return app;
}

/** An export chosen by APP_MODULE, or found by name, before the factory call and shape check. */
interface Picked {
  label: string;
  value: unknown;
}

async function importAppModule(file: string, asMain: boolean): Promise<Record<string, unknown>> {
  try {
    return await importModule(file, asMain);
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    // process.chdir(), process.setuid() and the like are refused in a worker thread.
    const inThread =
      (error as NodeJS.ErrnoException)?.code === 'ERR_WORKER_UNSUPPORTED_OPERATION'
        ? '. This app cannot run in a worker thread (-k threads): use -k async, which runs it in a process of its own.'
        : '';
    throw new KelpieError('KELPIE_ERR_APP_IMPORT', `Failed to import the app module ${file}: ${reason}${inThread}`, {
      cause: error,
    });
  }
}

/** `file:name.path`: that export, else (CommonJS) the same path under `default`. */
function namedExport(mod: Record<string, unknown>, exportPath: string[], file: string): Picked {
  const label = exportPath.join('.');
  let value = walk(mod, exportPath);
  // CommonJS: named properties of module.exports may only be visible through `default`.
  if (value === undefined) value = walk(mod.default, exportPath);
  if (value === undefined) {
    throw new KelpieError(
      'KELPIE_ERR_APP_EXPORT',
      `The app module ${file} has no export "${label}". Found: ${listExports(mod)}.`,
    );
  }
  return { label, value };
}

/**
 * No export named: `default`, `app`, `default.app`; or the server the module started itself; or
 * WebSocket parts alone; or, with a capture, the server it starts later.
 */
async function defaultExport(
  mod: Record<string, unknown>,
  spec: AppModuleSpec,
  file: string,
  options: LoadAppOptions,
  before: Map<string, number> | undefined,
): Promise<Picked | { app: App }> {
  const candidates: [string, unknown][] = [
    ['default', mod.default],
    ['app', mod.app],
    ['default.app', walk(mod.default, ['app'])],
  ];
  const found = candidates.find(([, v]) => isAppShape(v));
  const capture = options.capture;
  // The module started its server while it loaded: that server is what `node file` would serve.
  const listened = capture?.server;
  if (listened) {
    if (found) {
      // `module.exports = app; if (require.main === module) app.listen()`: the same app twice.
      const same = listened.listeners('request').includes(found[1] as never);
      const line = `The app module ${file} exports an app ("${found[0]}") and also started its own server: kelpie serves that server (once), on its binds`;
      if (same) options.log?.debug(line);
      else options.log?.warning(line);
    }
    return { app: serverApp(listened, mod) };
  }
  if (found) {
    capture?.servingExport();
    return { label: found[0], value: found[1] };
  }
  const exports = `looked for "default", "app", then "default.app"; found: ${listExports(mod)}`;
  const hint = frameworkHint(mod, spec.target);
  const webSocketsOnly = hint ? undefined : webSocketOnlyApp(mod);
  if (webSocketsOnly) {
    options.log?.debug(
      `The app module ${file} exports WebSocket parts and no HTTP app: plain HTTP requests no library takes are answered 404`,
    );
    capture?.servingExport();
    return { app: webSocketsOnly };
  }
  if (!capture || hint) {
    throw new KelpieError(
      'KELPIE_ERR_APP_EXPORT',
      `The app module ${file} exports no usable app (${exports}) and started no server of its own. ` +
        (hint ? `${hint} ` : '') +
        `Accepted: ${ACCEPTED_SHAPES}; or a module that calls listen() on its own http, https or http2 server.`,
    );
  }
  return { app: serverApp(await waitForServer(capture, file, exports, options, before), mod) };
}

/** `file:factory(args)`: call it, awaiting what it returns. */
async function callFactory(value: unknown, args: unknown[], label: string, file: string): Promise<unknown> {
  if (typeof value !== 'function') {
    throw new KelpieError(
      'KELPIE_ERR_APP_FACTORY',
      `${label} in ${file} is ${describeValue(value)}, not a factory function.`,
    );
  }
  try {
    return await (value as (...args: unknown[]) => unknown)(...args);
  } catch (error) {
    throw new KelpieError('KELPIE_ERR_APP_FACTORY', `The app factory ${label}() in ${file} threw: ${String(error)}`, {
      cause: error,
    });
  }
}

/**
 * What keeps the event loop alive, by kind (`Timeout`, `TCPWrap`, `FSReqCallback`...), where
 * Node can say (`process.getActiveResourcesInfo`, Node 17.3+).
 */
export function pendingWork(): Map<string, number> | undefined {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.();
  if (!info) return undefined;
  const counts = new Map<string, number>();
  for (const kind of info) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/** Whether `now` holds more of some kind than `before`, beyond `own` of kelpie's own. */
function holdsMore(now: Map<string, number>, before: Map<string, number>, own: Record<string, number>): boolean {
  for (const [kind, count] of now) if (count - (own[kind] ?? 0) > (before.get(kind) ?? 0)) return true;
  return false;
}

/**
 * The server the module starts after it loaded (an async bootstrap, as in NestJS): waited for
 * up to the wait, or until the module has nothing left to do that could start one (nothing of
 * its own keeps the event loop alive: plain `node` would exit there), checked every 100 ms.
 */
async function waitForServer(
  capture: ListenCapture,
  file: string,
  exports: string,
  options: LoadAppOptions,
  before: Map<string, number> | undefined,
): Promise<Server> {
  const seconds = options.listenWait ?? 30;
  options.log?.debug(`The app module ${file} exports no app: waiting up to ${seconds} s for it to start its server`);
  const started = Date.now();
  const noticeAt = Math.min(10, seconds / 2) * 1000;
  let noticed = false;
  let idleChecks = 0;
  let poll: NodeJS.Timeout | undefined;
  const failure = (why: string) =>
    new KelpieError(
      'KELPIE_ERR_APP_EXPORT',
      `The app module ${file} exports no usable app (${exports}) and started no server of its own ${why}. ` +
        `Accepted: ${ACCEPTED_SHAPES}; or a module that calls listen() on its own http, https or http2 server.`,
    );
  try {
    return await new Promise((resolve, reject) => {
      void capture.whenListening().then(resolve);
      poll = setInterval(() => {
        const elapsed = Date.now() - started;
        if (elapsed >= seconds * 1000) return reject(failure(`within ${seconds} s (--timeout)`));
        if (!noticed && elapsed >= noticeAt) {
          noticed = true;
          options.log?.info(`Still waiting for the app module ${file} to call listen() (it exports no app)`);
        }
        const now = before && pendingWork();
        // This interval is the one timer of kelpie's that counts.
        if (!now || holdsMore(now, before as Map<string, number>, { Timeout: 1 })) {
          idleChecks = 0;
          return;
        }
        if (++idleChecks >= 2) reject(failure('(it has nothing left to do that could start one)'));
      }, 100);
    });
  } finally {
    clearInterval(poll);
  }
}
