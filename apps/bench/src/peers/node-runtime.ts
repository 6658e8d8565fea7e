/**
 * The Node a scenario's sides run on: the one running the bench, or a major from the npm
 * registry's `node` package (`node@26`), installed into the bench's cache folder.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { NodeRuntime } from '../types.js';
import { ensureNpmFolder } from './npm-cache.js';

const NODE_BIN = join('node_modules', 'node', 'bin', 'node');

export const benchNode: NodeRuntime = { path: process.execPath, version: process.version };

function versionOf(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(path, ['--version'], { timeout: 30_000 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(stdout.trim());
    });
  });
}

/** `[major, minor]` of a `process.version` string. */
export function majorMinor(version: string): [number, number] {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  return [major, minor];
}

/** True when `version` is at least `major.minor`. */
export function atLeast(version: string, major: number, minor: number): boolean {
  const [a, b] = majorMinor(version);
  return a > major || (a === major && b >= minor);
}

/** Node `major` from the npm registry (the bench's own Node when it is that major already), or why not. */
export async function registryNode(major: number): Promise<NodeRuntime | { reason: string }> {
  if (majorMinor(process.version)[0] === major) return benchNode;
  const installed = await ensureNpmFolder(`node-${major}`, [`node@${major}`], NODE_BIN);
  if (installed.reason !== undefined) return { reason: installed.reason };
  const path = join(installed.dir, NODE_BIN);
  try {
    const version = await versionOf(path);
    if (majorMinor(version)[0] !== major) return { reason: `${path} is ${version}, not Node ${major}` };
    return { path, version };
  } catch (error) {
    return { reason: `${path} does not run: ${(error as Error).message.split('\n')[0]}` };
  }
}
