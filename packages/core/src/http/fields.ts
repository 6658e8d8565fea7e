import { METHODS } from '../node-http.js';

/**
 * What kelpie refuses in a request's method, target and fields beyond what Node's parser
 * (llhttp, strict mode) already refuses: checks on what the parser produced, cheap enough for
 * every request, shared by HTTP/1 and HTTP/2. Each returns the reason for a refusal, or
 * undefined. The HTTP layer (request-limits.ts) answers the refusal; docs/security.md lists them.
 */

/**
 * Fields defined to appear once (RFC 9110 5.3) that decide where a request goes, how its body is
 * read or who sent it. Node keeps the first of a repeat and drops the others without a word; a
 * proxy in front may keep the last, so the two would act on different requests. (Content-Length
 * is here too, but Node's parser already refuses a repeated one, equal values included.)
 */
export const SINGLETON_FIELDS = ['host', 'content-type', 'authorization', 'proxy-authorization'] as const;

/** Bit per singleton field, keyed by name length first so most names cost one comparison of numbers. */
function singletonBit(name: string): number {
  switch (name.length) {
    case 4:
      return name.toLowerCase() === 'host' ? 1 : 0;
    case 12:
      return name.toLowerCase() === 'content-type' ? 2 : 0;
    case 13:
      return name.toLowerCase() === 'authorization' ? 4 : 0;
    case 19:
      return name.toLowerCase() === 'proxy-authorization' ? 8 : 0;
    default:
      return 0;
  }
}

/** The first singleton field that comes twice in `raw` (Node's rawHeaders: name, value, ...). */
export function repeatedSingleton(raw: readonly string[]): string | undefined {
  let seen = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const bit = singletonBit(raw[i] as string);
    if (bit === 0) continue;
    if (seen & bit) return raw[i];
    seen |= bit;
  }
  return undefined;
}

/**
 * Fields a chunked trailer (or an HTTP/2 trailer) must not carry (RFC 9110 6.5.1): those that
 * frame the message, route it or manage the connection, and those that authenticate. Node keeps
 * trailers apart from the headers (`req.trailers`), but a proxy or an app that merges them would
 * act on a request other than the one checked. Other fields (Content-Type, Vary...) pass, as in
 * Gunicorn.
 */
export const FORBIDDEN_TRAILER_FIELDS: ReadonlySet<string> = new Set([
  // framing
  'content-length',
  'transfer-encoding',
  'trailer',
  'te',
  // routing and the connection
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  // authentication
  'authorization',
  'proxy-authorization',
  'cookie',
]);

/** The first trailer field in `raw` (Node's rawTrailers) that must not be a trailer. */
export function forbiddenTrailer(raw: readonly string[]): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (FORBIDDEN_TRAILER_FIELDS.has(name.toLowerCase())) return name;
  }
  return undefined;
}

/** HTTP/2: a `host` field that names another authority than `:authority` (RFC 9113 8.3.1). */
export function authorityConflict(raw: readonly string[]): string | undefined {
  let authority: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] === ':authority') authority = raw[i + 1];
    else if (raw[i] === 'host') host = raw[i + 1];
  }
  if (authority === undefined || host === undefined) return undefined;
  return authority.toLowerCase() === host.toLowerCase()
    ? undefined
    : `host "${host}" differs from :authority "${authority}"`;
}

/** RFC 9110 5.6.2 tchar. */
function isTchar(code: number): boolean {
  return (
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x30 && code <= 0x39) || // 0-9
    (code >= 0x23 && code <= 0x27) || // # $ % & '
    code === 0x21 || // !
    code === 0x2a || // *
    code === 0x2b || // +
    code === 0x2d || // -
    code === 0x2e || // .
    (code >= 0x5e && code <= 0x60) || // ^ _ `
    code === 0x7c || // |
    code === 0x7e // ~
  );
}

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

/**
 * How to answer a method kelpie does not serve: 501 (RFC 9110 9.1) for a method that is well
 * formed but unknown, 400 for one that is not a method at all. Well formed is Gunicorn's rule:
 * a token (RFC 9110 5.6.2) of 3 to 20 characters with no lower-case letter and no `#`. Known
 * means Node's list (`http.METHODS`), which is what Node's parser lets through to the app.
 */
export function unknownMethodStatus(method: string): 400 | 501 {
  if (method.length < 3 || method.length > 20) return 400;
  for (let i = 0; i < method.length; i++) {
    const code = method.charCodeAt(i);
    if (!isTchar(code) || (code >= 0x61 && code <= 0x7a) || code === 0x23) return 400;
  }
  return 501;
}

/** Whether Node's HTTP/1 parser passes this method (HTTP/2 passes any token). */
export function isKnownMethod(method: string): boolean {
  return KNOWN_METHODS.has(method);
}

/**
 * The method of the request line Node's parser stopped at (HPE_INVALID_METHOD): the token around
 * byte `at` of `data`, which must be followed by a space; undefined when the bytes there are not
 * a complete token (not a method at all, or cut off at the end of what was read).
 */
export function methodAt(data: Buffer, at: number): string | undefined {
  let start = Math.min(at, data.length);
  while (start > 0 && isTchar(data[start - 1] as number)) start--;
  let end = start;
  while (end < data.length && isTchar(data[end] as number)) end++;
  if (end === start || end >= data.length || data[end] !== 0x20) return undefined;
  return data.toString('latin1', start, end);
}

/**
 * An absolute-form target (RFC 9112 3.2.2) whose authority is well formed (RFC 3986 3.2):
 * userinfo, then a bracketed IP literal or a reg-name, then a port. Node's parser checks the
 * scheme and the characters, not this shape.
 */
const ABSOLUTE_FORM =
  /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[\w\-.~!$&'()*+,;=:%]*@)?(?:\[[0-9A-Fa-f:.]+\]|[\w\-.~!$&'()*+,;=%]*)(?::\d*)?(?:[/?#]|$)/;

/**
 * A request target other than origin-form (`/path`, not checked here: the caller's fast path)
 * that must be refused: the asterisk-form with any method but OPTIONS (RFC 9112 3.2.4), or an
 * absolute-form whose authority is malformed. (Node's parser refuses the authority-form with any
 * method but CONNECT, which kelpie refuses anyway.)
 */
export function targetProblem(method: string, url: string): string | undefined {
  if (url === '*') return method === 'OPTIONS' ? undefined : `the target "*" with ${method}: only OPTIONS may use it`;
  if (url === '' && method === 'CONNECT') return undefined;
  return ABSOLUTE_FORM.test(url) ? undefined : `malformed request target ${JSON.stringify(url)}`;
}
