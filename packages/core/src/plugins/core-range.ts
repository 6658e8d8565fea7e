import { createRequire } from 'node:module';

/**
 * Whether a plugin's supported core range (`meta.core`) takes a core version. The range kelpie's
 * own packages declare, a caret on a plain version (`^0.1.0`), is decided here; any other range
 * goes to semver (with `includePrerelease`, as before). semver is required only then: it is
 * CommonJS, and loading it cost the arbiter about 15 ms of CPU on every start, before it could
 * spawn a worker.
 */

export type RangeVerdict = 'ok' | 'outside' | 'invalid';

const CARET = /^\^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const PLAIN = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** A caret range on a plain version, for a plain version; undefined when either is anything else. */
function caret(range: string, version: string): boolean | undefined {
  const r = CARET.exec(range);
  const v = PLAIN.exec(version);
  if (!r || !v) return undefined;
  const [major, minor, patch] = r.slice(1).map(Number) as [number, number, number];
  const [vMajor, vMinor, vPatch] = v.slice(1).map(Number) as [number, number, number];
  // At least the range's version...
  const atLeast = vMajor !== major ? vMajor > major : vMinor !== minor ? vMinor > minor : vPatch >= patch;
  // ...and below the next change of its first non-zero part (^1.2.3 <2.0.0, ^0.2.3 <0.3.0, ^0.0.3 <0.0.4).
  if (major > 0) return atLeast && vMajor === major;
  if (minor > 0) return atLeast && vMajor === 0 && vMinor === minor;
  return vMajor === 0 && vMinor === 0 && vPatch === patch;
}

type Satisfies = (version: string, range: string, options: { includePrerelease: boolean }) => boolean;
type ValidRange = (range: string) => string | null;

/** Whether `version` is in `range`: 'invalid' when semver does not read the range at all. */
export function coreRangeVerdict(range: string, version: string): RangeVerdict {
  const quick = caret(range, version);
  if (quick !== undefined) return quick ? 'ok' : 'outside';
  const require = createRequire(import.meta.url);
  // Two functions, not semver's index: the index loads its 50 modules.
  const validRange = require('semver/ranges/valid.js') as ValidRange;
  const satisfies = require('semver/functions/satisfies.js') as Satisfies;
  if (!validRange(range)) return 'invalid';
  return satisfies(version, range, { includePrerelease: true }) ? 'ok' : 'outside';
}
