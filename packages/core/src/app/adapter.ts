import type { BuiltinAdapter } from '../config/builtin-plugins.js';
import type { Settings } from '../config/settings.js';
import { KelpieError } from '../errors.js';
import { dropUntrustedForwarding, trustFunction } from '../http/forwarded.js';
import type { Logger } from '../observability/logger.js';
import { coreRangeVerdict } from '../plugins/core-range.js';
import { findPlugin, importPlugin, pluginCandidates, pluginNotFound } from '../plugins/find.js';
import { VERSION } from '../version.js';
import type { App, AppHooks, RequestListener, UpgradeListener } from './app.js';

/**
 * Framework adapters (SPEC.md 1.7.1): packages that serve one framework's apps with what the
 * framework needs from a server: trust in forwarded headers mapped onto its own setting, errors
 * turned into 500s with a log line, and its start and close hooks. Core never imports a
 * framework: it recognizes apps by shape and loads `@kelpie/adapter-NAME` by name.
 */

export interface AdapterMeta {
  /** The short name `--adapter` takes, and the framework's name in logs (`express`). */
  name: string;
  version: string;
  /** The semver range of @kelpie/core this adapter works with. */
  core: string;
}

export interface AdapterContext {
  settings: Settings;
  log: Logger;
  /** Whether a peer address is in --forwarded-allow-ips. */
  trusted: (address: string | undefined) => boolean;
}

/** What an adapter makes of an app: the listener to serve, its lifecycle hooks and its upgrades. */
export interface AdaptedApp extends AppHooks {
  listener: RequestListener;
  /**
   * Asked once, after the adapter's `startup` has run (a framework's plugins install their upgrade
   * handling as it starts): the listener for upgrade requests, or undefined when the app has none.
   * Served like an app's `upgrade` export (SPEC.md 1.7).
   */
  upgradeListener?: () => UpgradeListener | undefined;
}

export interface Adapter {
  meta: AdapterMeta;
  /** Whether the value is an app of this adapter's framework. */
  matches(value: unknown): boolean;
  adapt(value: unknown, context: AdapterContext): AdaptedApp | Promise<AdaptedApp>;
}

const isFunction = (value: unknown): value is (...args: unknown[]) => unknown => typeof value === 'function';

/**
 * Frameworks core recognizes by shape, for `--adapter auto` and for the adapters' own
 * `matches()`, in order. Duck typing only: a Fastify instance has `ready()`, `inject()`,
 * `routing()` and `addHook()`; an Express app is a function with `handle()`, `set()` and `use()`;
 * a Koa app has `callback()`, `on()` and a `middleware` array.
 */
const FRAMEWORKS: { name: BuiltinAdapter; members: string[]; callable: boolean; lists?: string }[] = [
  { name: 'fastify', members: ['ready', 'inject', 'routing', 'addHook'], callable: false },
  { name: 'express', members: ['handle', 'set', 'use'], callable: true },
  { name: 'koa', members: ['callback', 'on'], callable: false, lists: 'middleware' },
];

function looksLike(framework: (typeof FRAMEWORKS)[number], value: unknown): boolean {
  if (framework.callable ? typeof value !== 'function' : typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    framework.members.every((member) => isFunction(record[member])) &&
    (framework.lists === undefined || Array.isArray(record[framework.lists]))
  );
}

/** The framework an app value looks like, if any. */
export function frameworkOf(value: unknown): string | undefined {
  return FRAMEWORKS.find((framework) => looksLike(framework, value))?.name;
}

function isAdapter(value: unknown): value is Adapter {
  const candidate = value as Partial<Adapter> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.meta === 'object' &&
    isFunction(candidate.matches) &&
    isFunction(candidate.adapt)
  );
}

/** Load and check the adapter a name, package or path stands for; undefined when not installed. */
export async function loadAdapter(name: string, searchFrom: readonly string[]): Promise<Adapter | undefined> {
  const file = findPlugin(name, 'adapter', searchFrom);
  if (!file) return undefined;
  const mod = await importPlugin(file, 'adapter', 'KELPIE_ERR_ADAPTER_INVALID');
  const adapter = isAdapter(mod.default) ? mod.default : Object.values(mod).find(isAdapter);
  if (!adapter) {
    throw new KelpieError(
      'KELPIE_ERR_ADAPTER_INVALID',
      `${file} exports no adapter (an object with meta { name, version, core }, matches() and adapt()).`,
    );
  }
  const { meta } = adapter;
  // semver only for a range other than a plain caret (see plugins/core-range.ts).
  if (coreRangeVerdict(meta.core, VERSION) !== 'ok') {
    throw new KelpieError(
      'KELPIE_ERR_ADAPTER_INVALID',
      `Adapter "${meta.name}" ${meta.version} (${file}) supports @kelpie/core ${meta.core}, but this is @kelpie/core ${VERSION}.`,
    );
  }
  return adapter;
}

/**
 * Apply `--adapter` to a loaded app: `none` leaves it as it is; `auto` uses the adapter of the
 * framework the app looks like, when installed; a name must be installed and must match the app.
 */
export async function applyAdapter(
  app: App,
  settings: Settings,
  log: Logger,
  searchFrom: readonly string[],
): Promise<App> {
  const choice = settings.adapter;
  if (choice === 'none' && app.kind === 'framework') {
    throw new KelpieError(
      'KELPIE_ERR_ADAPTER_NOT_FOUND',
      `This ${frameworkOf(app.value)} app can only be served through its adapter, and --adapter is none.`,
    );
  }
  if (choice === 'none') return app;
  const name = choice === 'auto' ? frameworkOf(app.value) : choice;
  if (!name) return app;
  const adapter = await loadAdapter(name, searchFrom);
  if (!adapter) {
    if (choice !== 'auto' || app.kind === 'framework') {
      throw pluginNotFound(name, 'adapter', searchFrom, 'KELPIE_ERR_ADAPTER_NOT_FOUND');
    }
    log.info(
      `This looks like a ${name} app; it is served as a plain app. For trusted proxies, errors and shutdown hooks, npm install ${pluginCandidates(name, 'adapter')[0]}`,
    );
    return app;
  }
  if (!adapter.matches(app.value)) {
    throw new KelpieError(
      'KELPIE_ERR_ADAPTER_INVALID',
      `The app is not a ${adapter.meta.name} app, which --adapter ${choice} serves.`,
    );
  }
  const trusted = trustFunction(settings.forwardedAllowIps);
  const adapted = await adapter.adapt(app.value, { settings, log, trusted });
  const inner = adapted.listener;
  // Whatever the framework does with forwarded headers, an untrusted peer's are gone first.
  const listener: RequestListener = (req, res) => {
    dropUntrustedForwarding(req, trusted);
    return inner(req, res);
  };
  log.debug(`Serving the app through adapter ${adapter.meta.name} ${adapter.meta.version}`);
  const served: App = { ...app, listener, shutdown: chain(app.shutdown, adapted.shutdown) };
  const { upgradeListener } = adapted;
  // Asked after the adapter's startup; startApp runs this before a worker class reads `upgrade`.
  const setUpgrade = upgradeListener
    ? () => {
        const inner = upgradeListener();
        if (!inner || served.upgrade) return;
        served.upgrade = (req, socket, head) => {
          dropUntrustedForwarding(req, trusted);
          return inner(req, socket, head);
        };
      }
    : undefined;
  served.startup = chain(adapted.startup, setUpgrade, app.startup);
  return served;
}

/** Run hooks one after the other; undefined when there are none. */
function chain(...hooks: (AppHooks['startup'] | undefined)[]): AppHooks['startup'] {
  const present = hooks.filter((hook): hook is NonNullable<typeof hook> => typeof hook === 'function');
  if (present.length === 0) return undefined;
  return async () => {
    for (const hook of present) await hook();
  };
}
