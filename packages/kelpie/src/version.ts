// The `kelpie --version` line, in a module of its own: for a bare --version the bin prints it
// without loading the server (bin/kelpie.js), and the full command line prints the same.
import { createRequire } from 'node:module';
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;

/** `kelpie (version X, @kelpie/core Y)`; core's version read from its package.json unless given. */
export function versionLine(
  coreVersion: string = (createRequire(import.meta.url)('@kelpie/core/package.json') as { version: string }).version,
): string {
  return `kelpie (version ${VERSION}, @kelpie/core ${coreVersion})\n`;
}
