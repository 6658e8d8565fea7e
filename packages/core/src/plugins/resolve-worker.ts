import { KelpieError } from '../errors.js';
import { VERSION } from '../version.js';
import { isWorkerClass, type WorkerClass, type WorkerMeta } from '../worker/worker.js';
import { coreRangeVerdict } from './core-range.js';
import { findPlugin, importPlugin, PLUGIN_PREFIXES, pluginCandidates, pluginNotFound } from './find.js';

/** A worker class found by name, loaded and checked. */
export interface ResolvedWorker {
  /** What the user asked for (`async`, `@acme/kelpie-worker-x`, `./w.js#Mine`). */
  request: string;
  /** Absolute file of the module that exports the class. */
  module: string;
  /** The export name of the class in that module. */
  exportName: string;
  meta: WorkerMeta;
  workerClass: WorkerClass;
}

/** Short names expand through this table, in order: `-k foo` tries each prefix. */
export const WORKER_PREFIXES = PLUGIN_PREFIXES.worker;

/** Worker-class candidates for a `-k` value (see pluginCandidates). */
export function workerCandidates(name: string): string[] {
  return pluginCandidates(name, 'worker');
}

function pickExport(mod: Record<string, unknown>, file: string, exportName?: string): [string, WorkerClass] {
  if (exportName) {
    const value = mod[exportName];
    if (!isWorkerClass(value)) {
      throw new KelpieError(
        'KELPIE_ERR_WORKER_INVALID',
        `${file} has no worker class export "${exportName}" (exports: ${Object.keys(mod).join(', ') || 'none'}).`,
      );
    }
    return [exportName, value];
  }
  if (isWorkerClass(mod.default) && mod.default.meta) return ['default', mod.default];
  // Classes with metadata only: a module that re-exports core's abstract Worker (or another
  // base class without meta) still has one class to pick.
  const classes = Object.entries(mod).filter(([, value]) => isWorkerClass(value)) as [string, WorkerClass][];
  const withMeta = classes.filter(([, value]) => value.meta);
  // None with meta: the one class there is, so that checkMeta says what it lacks.
  const found = withMeta.length > 0 ? withMeta : classes;
  if (found.length === 1) return found[0] as [string, WorkerClass];
  throw new KelpieError(
    'KELPIE_ERR_WORKER_INVALID',
    found.length === 0
      ? `${file} exports no worker class (a class extending Worker from @kelpie/core, with static meta). Exports: ${Object.keys(mod).join(', ') || 'none'}.`
      : `${file} exports several worker classes (${found.map(([n]) => n).join(', ')}); pick one with #Export, e.g. -k ${file}#${found[0]?.[0]}.`,
  );
}

function checkMeta(cls: WorkerClass, file: string): WorkerMeta {
  const meta = cls.meta as Partial<WorkerMeta> | undefined;
  if (!meta || typeof meta.name !== 'string' || typeof meta.version !== 'string' || typeof meta.core !== 'string') {
    throw new KelpieError(
      'KELPIE_ERR_WORKER_INVALID',
      `The worker class in ${file} lacks static meta { name, version, core } (core: the @kelpie/core semver range it supports).`,
    );
  }
  const verdict = coreRangeVerdict(meta.core, VERSION);
  if (verdict === 'invalid') {
    throw new KelpieError(
      'KELPIE_ERR_WORKER_INVALID',
      `Worker "${meta.name}" declares an invalid core range "${meta.core}".`,
    );
  }
  if (verdict === 'outside') {
    throw new KelpieError(
      'KELPIE_ERR_WORKER_INCOMPATIBLE',
      `Worker "${meta.name}" ${meta.version} (${file}) supports @kelpie/core ${meta.core}, but this is @kelpie/core ${VERSION}. ` +
        'Install a version of the worker package made for this core, or a core it supports.',
    );
  }
  return meta as WorkerMeta;
}

/**
 * Find, load and check the worker class for a `-k` value: a short name, a package name or a
 * path, with an optional `#Export`. Packages are looked up from each folder of `searchFrom` in
 * turn (the user's project first, then the CLI's own install).
 */
export async function resolveWorker(request: string, searchFrom: readonly string[]): Promise<ResolvedWorker> {
  const hash = request.lastIndexOf('#');
  const name = hash > 0 ? request.slice(0, hash) : request;
  const exportName = hash > 0 ? request.slice(hash + 1) : undefined;
  const file = findPlugin(name, 'worker', searchFrom);
  if (!file) throw pluginNotFound(name, 'worker', searchFrom, 'KELPIE_ERR_WORKER_NOT_FOUND');
  const mod = await importPlugin(file, 'worker', 'KELPIE_ERR_WORKER_INVALID');
  const [exported, workerClass] = pickExport(mod, file, exportName);
  const meta = checkMeta(workerClass, file);
  return { request, module: file, exportName: exported, meta, workerClass };
}
