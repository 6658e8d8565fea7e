import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppInterface } from '../config/choices.js';
import { KelpieError } from '../errors.js';
import { isResponseLike } from '../http/response-like.js';

/**
 * How a bare function app is called (SPEC.md 1.5.1): as a Node listener `(req, res)` or as a
 * fetch handler `(request, ...context)`. `--interface` names it; `auto` decides from what the
 * function shows, cheapest decisive sign first.
 */

/** `--interface`'s values live with the settings; this module acts on them. */
export { APP_INTERFACES, type AppInterface } from '../config/choices.js';

export interface InterfaceDecision {
  interface: 'node' | 'fetch';
  /** Why: shown in debug logs and in the hint when a call fails. */
  reason: string;
  /** False when only the parameter count decided: a failing call then says what --interface fixes it. */
  certain: boolean;
}

/** Second parameters that name a Node response: `(req, res)`, `(request, response)`, Fastify-style `reply`. */
const RESPONSE_PARAMETER = /^_*(?:res|resp|response|reply|rep|serverresponse|outgoing)$/i;
/**
 * Second parameters that name a fetch handler's context: Hono's `env`, React Router's
 * `loadContext`/`initialContext`, `ctx`, `info`, Bun's and Deno's `server`/`info`, `platform`.
 */
const CONTEXT_PARAMETER = /^_*(?:env|bindings|info|server|platform|\w*context|\w*ctx)$/i;

/**
 * Second parameters that name a context the app makes itself: React Router's and Remix's
 * `initialContext`/`loadContext`, which React Router 8 (and 7 with `future.v8_middleware`) only
 * accepts as its own `RouterContextProvider`. Such handlers are called with the request alone.
 */
const OWN_CONTEXT_PARAMETER = /^_*(?:initial|load)Context$/i;

/**
 * Whether a fetch handler declares a context of its own kind as its second parameter (see
 * OWN_CONTEXT_PARAMETER): kelpie then passes it no second argument (SPEC.md 1.5.1).
 */
export function takesOwnContext(fn: (...args: never[]) => unknown): boolean {
  const second = parameterNames(fn)?.[1];
  return second !== undefined && OWN_CONTEXT_PARAMETER.test(second);
}

/** Decide how a bare function app is called (`requested` is the --interface setting). */
export function decideInterface(
  fn: (...args: never[]) => unknown,
  requested: AppInterface = 'auto',
): InterfaceDecision {
  if (requested !== 'auto') return { interface: requested, reason: `--interface ${requested}`, certain: true };
  // Express and Connect apps are functions with use() and handle(); their arity is (req, res, next).
  const members = fn as unknown as Record<string, unknown>;
  if (typeof members.handle === 'function' && typeof members.use === 'function') {
    return { interface: 'node', reason: 'an Express or Connect app (it has use and handle)', certain: true };
  }
  // @whatwg-node server adapters (GraphQL Yoga) are functions that also have fetch().
  if (typeof members.fetch === 'function') {
    return { interface: 'fetch', reason: 'it has a fetch method', certain: true };
  }
  const names = parameterNames(fn);
  const second = names?.[1];
  if (second !== undefined && RESPONSE_PARAMETER.test(second)) {
    return { interface: 'node', reason: `its second parameter is named ${second}`, certain: true };
  }
  if (second !== undefined && CONTEXT_PARAMETER.test(second)) {
    return { interface: 'fetch', reason: `its second parameter is named ${second}`, certain: true };
  }
  const count = fn.length;
  const counted = `it declares ${count} parameter${count === 1 ? '' : 's'}`;
  if (count >= 2) return { interface: 'node', reason: counted, certain: false };
  return { interface: 'fetch', reason: counted, certain: false };
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*/;
/** Bounds the text scanned: parameter lists are short, and a bundled function may be huge. */
const SCAN_LIMIT = 2000;

/**
 * The names of a function's leading simple parameters, read from its source text; undefined when
 * the source is not available (native or bound functions) or is not simple enough to read here
 * (a quote or comment in the list). Destructured or rest parameters end the list.
 */
export function parameterNames(fn: (...args: never[]) => unknown): string[] | undefined {
  let source: string;
  try {
    source = Function.prototype.toString.call(fn).slice(0, SCAN_LIMIT);
  } catch {
    return undefined;
  }
  if (source.includes('[native code]')) return undefined;
  let text = source.replace(/^async\s+/, '');
  const arrow = /^([A-Za-z_$][\w$]*)\s*=>/.exec(text);
  if (arrow) return [arrow[1] as string];
  if (text.startsWith('class')) return undefined;
  const open = text.indexOf('(');
  if (open < 0) return undefined;
  text = text.slice(open + 1);
  let depth = 0;
  let end = -1;
  for (let i = 0; i < text.length && end < 0; i++) {
    const c = text[i];
    if (c === '"' || c === "'" || c === '`' || (c === '/' && (text[i + 1] === '/' || text[i + 1] === '*'))) {
      return undefined;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) end = i;
      else depth--;
    }
  }
  if (end < 0) return undefined;
  const names: string[] = [];
  for (const part of splitTopLevel(text.slice(0, end))) {
    const name = IDENTIFIER.exec(part.trim())?.[0];
    if (name === undefined) break;
    names.push(name);
  }
  return names;
}

function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(list.slice(start, i));
      start = i + 1;
    }
  }
  if (list.slice(start).trim() !== '') parts.push(list.slice(start));
  return parts;
}

/**
 * Errors a fetch handler throws when it was called as a Node listener `(req, res)`: it reads
 * `request.url` (a path, not a URL) or Request members an IncomingMessage lacks.
 */
const FETCH_CALLED_AS_NODE =
  /Invalid URL|\.(?:json|text|arrayBuffer|formData|blob|clone|bytes) is not a function|headers\.get is not a function/;
/**
 * Errors a Node listener throws when it was called as a fetch handler `(request, info)`: no
 * ServerResponse to write, no Node stream methods on the request.
 */
const NODE_CALLED_AS_FETCH =
  /(?:reading|setting) '(?:end|write|writeHead|setHeader|statusCode|getHeader|on|once|pipe|headersSent)'|\.(?:end|write|writeHead|setHeader|getHeader|on|once|pipe|resume|socket) is not a function|must return a Response.*, got undefined/;

/**
 * The error with a hint saying which --interface value fixes it, when `error` says the guess
 * was wrong; undefined otherwise.
 */
export function misfitError(error: unknown, decision: InterfaceDecision): KelpieError | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const pattern = decision.interface === 'node' ? FETCH_CALLED_AS_NODE : NODE_CALLED_AS_FETCH;
  if (!pattern.test(message)) return undefined;
  return interfaceError(decision, message, error);
}

function interfaceError(decision: InterfaceDecision, what: string, cause: unknown): KelpieError {
  const other = decision.interface === 'node' ? 'fetch' : 'node';
  const shape =
    decision.interface === 'node' ? 'a Node request listener (req, res)' : 'a fetch handler (request, context)';
  const fix = other === 'fetch' ? 'a fetch handler (request, ...context) => Response' : 'a Node listener (req, res)';
  return new KelpieError(
    'KELPIE_ERR_APP_INTERFACE',
    `${what} — the app was called as ${shape} because ${decision.reason}; if it is ${fix}, start kelpie with --interface ${other} (said once per worker)`,
    { cause },
  );
}

type Listener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * A Node listener whose shape was only guessed: the first failure per worker that says it is a
 * fetch handler (an `Invalid URL`, or a Response returned while `res` was never ended) carries
 * the --interface hint to the error log. A returned Response always fails the request (500)
 * rather than leave it hanging.
 */
export function hintingListener(listener: Listener, decision: InterfaceDecision): Listener {
  const { hint, first } = hinter(decision);
  const check = (value: unknown, res: ServerResponse): unknown => {
    if (!isResponseLike(value) || res.headersSent || res.writableEnded) return value;
    const what = 'The app returned a Response to a call as a Node listener and never ended the Node response';
    if (!first()) throw new TypeError(what);
    throw interfaceError(decision, what, undefined);
  };
  return (req, res) => {
    let result: unknown;
    try {
      result = listener(req, res);
    } catch (error) {
      throw hint(error);
    }
    if (typeof (result as PromiseLike<unknown> | undefined)?.then !== 'function') return check(result, res);
    return (result as Promise<unknown>).then(
      (value) => check(value, res),
      (error: unknown) => {
        throw hint(error);
      },
    );
  };
}

/** A fetch-bridge error reporter that adds the hint to the first failure that says the guess was wrong. */
export function hintingReporter<Req>(
  report: (error: unknown, req: Req) => void,
  decision: InterfaceDecision,
): (error: unknown, req: Req) => void {
  const { hint } = hinter(decision);
  return (error, req) => report(hint(error), req);
}

/**
 * The hint is said once per worker (per wrapped app): `hint` turns the first failure that shows
 * the guess was wrong into the hinting error and passes every other one on; `first` says whether
 * the hint is still to be said, and counts it as said.
 */
function hinter(decision: InterfaceDecision): { hint: (error: unknown) => unknown; first: () => boolean } {
  let hinted = false;
  return {
    hint(error) {
      if (hinted) return error;
      const better = misfitError(error, decision);
      if (better === undefined) return error;
      hinted = true;
      return better;
    },
    first() {
      if (hinted) return false;
      hinted = true;
      return true;
    },
  };
}
