/**
 * Whether this Node.js can bind with SO_REUSEPORT (--reuse-port). Its own file, so that a worker
 * process, which checks it when the app listens, does not import the command line and the
 * settings table (command-line.ts re-exports it).
 */

/** Node.js 22.12+ (and 23.1+) let net.Server bind with SO_REUSEPORT. */
export function reusePortSupported(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}
