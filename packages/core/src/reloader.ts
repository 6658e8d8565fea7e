import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from './logger.js';

/**
 * --reload: watch the app's directory (recursively, skipping `node_modules` and dot-folders) and
 * the --reload-extra-file files, and call `onChange` once per burst of changes (300 ms quiet).
 * Editors that save by renaming are covered: extra files are watched through their folder.
 */
export function watchForChanges(
  dirs: readonly string[],
  files: readonly string[],
  onChange: (file: string) => void,
  log: Logger,
  quietMs = 300,
): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let changed: string | undefined;
  const fire = (file: string) => {
    changed ??= file;
    clearTimeout(timer);
    timer = setTimeout(() => {
      const first = changed as string;
      changed = undefined;
      onChange(first);
    }, quietMs);
  };
  const ignored = (relative: string) =>
    relative.split(/[\\/]/).some((part) => part === 'node_modules' || (part.startsWith('.') && part.length > 1));
  const open = (target: string, recursive: boolean, accept: (name: string) => string | undefined) => {
    try {
      const watcher = watch(target, { recursive, persistent: false }, (_event, name) => {
        const file = accept(name ? String(name) : '');
        if (file) fire(file);
      });
      watcher.on('error', (error) => log.warning(`--reload: watching ${target} failed: ${error.message}`));
      watchers.push(watcher);
    } catch (error) {
      log.warning(`--reload: cannot watch ${target}: ${(error as Error).message}`);
    }
  };
  for (const dir of dirs) {
    open(dir, true, (name) => (name && !ignored(name) ? join(dir, name) : undefined));
  }
  const byFolder = new Map<string, Set<string>>();
  for (const file of files.map((f) => resolve(f))) {
    const names = byFolder.get(dirname(file)) ?? new Set();
    names.add(basename(file));
    byFolder.set(dirname(file), names);
  }
  // Watched on their own even inside an app directory: a dot-file there is skipped by the
  // recursive watch, and the quiet period merges double events.
  for (const [folder, names] of byFolder) {
    open(folder, false, (name) => (names.has(name) ? join(folder, name) : undefined));
  }
  log.debug(`--reload: watching ${[...dirs, ...files].join(', ')}`);
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
