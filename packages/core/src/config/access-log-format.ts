import { KelpieError } from '../errors.js';

/**
 * The grammar of `--access-logformat`: Gunicorn's atoms, each with what it means (for the docs
 * and the error message) and what it needs measured per request, and the parser that splits a
 * format into text and atoms. observability/access-log.ts renders the atoms; its handler tables
 * are checked against this one at compile time.
 */

export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

interface AtomSpec {
  readonly meaning: string;
  /** `duration`: the request's start must be measured; `length`: its body bytes counted. */
  readonly needs?: 'duration' | 'length';
}

/** Every atom, in the order the docs list them. Braced atoms (`{NAME}i`) take a name. */
export const ACCESS_LOG_ATOM_TABLE = {
  h: { meaning: 'remote address' },
  l: { meaning: "'-'" },
  u: { meaning: 'user name (HTTP Basic authentication)' },
  t: { meaning: 'date of the request' },
  r: { meaning: 'status line (GET /path?q HTTP/1.1)' },
  m: { meaning: 'request method' },
  U: { meaning: 'URL path without query string' },
  q: { meaning: 'query string' },
  H: { meaning: 'protocol (HTTP/1.1)' },
  s: { meaning: 'status' },
  B: { meaning: 'response length', needs: 'length' },
  b: { meaning: "response length or '-'", needs: 'length' },
  f: { meaning: 'referer' },
  a: { meaning: 'user agent' },
  T: { meaning: 'request time in seconds', needs: 'duration' },
  M: { meaning: 'request time in milliseconds', needs: 'duration' },
  D: { meaning: 'request time in microseconds', needs: 'duration' },
  L: { meaning: 'request time in decimal seconds', needs: 'duration' },
  p: { meaning: 'process id (<1234>)' },
  '{header}i': { meaning: 'request header' },
  '{header}o': { meaning: 'response header' },
  '{variable}e': { meaning: 'environment variable' },
} as const satisfies Record<string, AtomSpec>;

type AtomKey = keyof typeof ACCESS_LOG_ATOM_TABLE;
/** The atoms without a name: `h`, `r`, `s`... */
export type AccessLogAtom = Exclude<AtomKey, `{${string}`>;
/** The kinds of braced atom: `i` (request header), `o` (response header), `e` (environment). */
export type BracedAtomKind = AtomKey extends infer K ? (K extends `{${string}}${infer Kind}` ? Kind : never) : never;

/** Gunicorn's atoms and what each means, for the documentation and the error message. */
export const ACCESS_LOG_ATOMS: Record<string, string> = Object.fromEntries(
  Object.entries(ACCESS_LOG_ATOM_TABLE).map(([atom, spec]) => [atom, spec.meaning]),
);

/** A piece of a parsed format: literal text, an atom, or a braced atom with its name. */
export type AccessLogPart = string | { atom: AccessLogAtom } | { braced: BracedAtomKind; name: string };

/** What the atoms of a parsed format need measured. */
export function atomNeeds(atom: AccessLogAtom): AtomSpec['needs'] {
  return (ACCESS_LOG_ATOM_TABLE[atom] as AtomSpec).needs;
}

/**
 * Split a format into literal text (empty pieces included) and atoms. Throws a
 * KELPIE_ERR_INVALID_SETTING naming an unknown atom and listing the known ones.
 */
export function parseAccessLogFormat(format: string, name = '--access-logformat'): AccessLogPart[] {
  const parts: AccessLogPart[] = [];
  let last = 0;
  for (const match of format.matchAll(/%\(([^)]*)\)s/g)) {
    parts.push(format.slice(last, match.index));
    last = (match.index ?? 0) + match[0].length;
    const atom = match[1] as string;
    const braced = /^\{([^}]+)\}([ioe])$/.exec(atom);
    if (braced) parts.push({ braced: braced[2] as BracedAtomKind, name: braced[1] as string });
    else if (Object.hasOwn(ACCESS_LOG_ATOM_TABLE, atom) && !atom.startsWith('{'))
      parts.push({ atom: atom as AccessLogAtom });
    else {
      throw new KelpieError(
        'KELPIE_ERR_INVALID_SETTING',
        `Invalid value for ${name}: unknown atom %(${atom})s in ${JSON.stringify(format)}. Allowed: ${Object.keys(
          ACCESS_LOG_ATOMS,
        )
          .map((a) => `%(${a})s`)
          .join(' ')}.`,
      );
    }
  }
  parts.push(format.slice(last));
  return parts;
}
