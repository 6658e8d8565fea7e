import { type Dirent, type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from '../observability/logger.js';

/**
 * --reload's file watching: which changes in the app's folders and the extra files mean new
 * code. What a change does (a reload, as HUP) is hup.ts's.
 */

/** Logs (and rotated ones), pidfiles and sockets: changes to them never mean new code. */
const OUTPUT_FILE = /\.(log|pid|sock|ctl)(\.\d+)?$/;

/** Folders watched at most, so a huge tree cannot exhaust the inotify watches. */
const MAX_FOLDERS = 4000;

/** Files the server itself writes (logs, rotated logs, pidfiles, sockets), node_modules and dot-folders: not code. */
function ignored(relative: string): boolean {
  return (
    OUTPUT_FILE.test(relative) ||
    relative.split(/[\\/]/).some((part) => part === 'node_modules' || (part.startsWith('.') && part.length > 1))
  );
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The files' names, by the folder they are in (watched through it). */
function byFolder(files: readonly string[]): Map<string, Set<string>> {
  const folders = new Map<string, Set<string>>();
  for (const file of files.map((f) => resolve(f))) {
    const names = folders.get(dirname(file)) ?? new Set();
    names.add(basename(file));
    folders.set(dirname(file), names);
  }
  return folders;
}

/**
 * --reload: watch the app's directory (every folder below it except `node_modules` and
 * dot-folders, each on its own: Node 20's recursive watch on Linux would also watch every file
 * inside `node_modules`) and
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
  const open = (target: string, accept: (name: string) => string | undefined): FSWatcher | undefined => {
    try {
      const watcher = watch(target, { persistent: false }, (_event, name) => {
        const file = accept(name ? String(name) : '');
        if (file) fire(file);
      });
      watcher.on('error', (error) => log.warning(`--reload: watching ${target} failed: ${error.message}`));
      watchers.push(watcher);
      return watcher;
    } catch (error) {
      log.warning(`--reload: cannot watch ${target}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const folders = new Map<string, FSWatcher | undefined>();
  const watchFolder = (dir: string) => {
    if (folders.has(dir)) return;
    if (folders.size >= MAX_FOLDERS) {
      if (folders.size === MAX_FOLDERS) log.warning(`--reload: watching the first ${MAX_FOLDERS} folders only`);
      folders.set(dir, undefined);
      return;
    }
    const watcher = open(dir, (name) => {
      if (!name || ignored(name)) return undefined;
      const path = join(dir, name);
      // A folder created since the start is watched too; one removed is forgotten.
      if (isFolder(path)) watchFolder(path);
      else if (folders.has(path)) {
        folders.get(path)?.close();
        folders.delete(path);
      }
      return path;
    });
    folders.set(dir, watcher);
    let entries: Dirent[] = [];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      // Unreadable: its own watcher (if any) is all there is.
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !ignored(entry.name)) watchFolder(join(dir, entry.name));
    }
  };
  for (const dir of dirs) watchFolder(resolve(dir));
  // Watched on their own even inside an app directory: a dot-file there is skipped by the
  // folder watch, and the quiet period merges double events.
  for (const [folder, names] of byFolder(files)) {
    open(folder, (name) => (names.has(name) ? join(folder, name) : undefined));
  }
  log.debug(`--reload: watching ${[...dirs, ...files].join(', ')}`);
  return () => {
    clearTimeout(timer);
    for (const watcher of watchers) watcher.close();
  };
}
