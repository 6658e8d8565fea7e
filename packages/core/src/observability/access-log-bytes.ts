/**
 * The body bytes of `%(b)s` and `%(B)s`, counted by the responses' own class: a subclass of the
 * server's response class (`ServerResponse`, a worker class's own, HTTP/2's `Http2ServerResponse`)
 * whose `write()` and `end()` add up what the app hands them, into a field every response has
 * from its constructor on. http/create-server.ts gives these classes to the servers when the
 * access log counts (accessLogCounts()); nothing is done per request to count.
 *
 * What is counted is what the app writes until it ends the response, as before: the body as
 * given, not the chunked framing, the headers or bytes Node adds (the socket's `bytesWritten`
 * would count those, and every response before this one on a keep-alive connection). A body
 * Node leaves out (HEAD, 204, 304) is counted as the app wrote it, as Gunicorn logs what the
 * app returned. Why not wrap each response's write() and end(): two own properties on every
 * response and a record to reach them cost about 1.4 us of CPU per request (docs/benchmarks.md,
 * "Access log, round 3").
 */

/** The bytes counted so far on a counting response. */
export const SENT = Symbol('kelpie.access-log.sent');

type Counting = { [SENT]: number; readonly writableEnded: boolean };
type Write = (this: Counting, chunk?: unknown, encoding?: unknown, callback?: unknown) => unknown;
type ResponseClass = new (...args: never[]) => object;

const subclasses = new WeakMap<ResponseClass, ResponseClass>();

/**
 * `responses` (a response class) with its body counted into `[SENT]`, one subclass per base (every listener's server
 * shares it: one class for V8's inline caches). `endWrites`: the base's end() hands its chunk
 * to this.write() (HTTP/2's compatibility response), so only write() counts; Node's HTTP/1
 * end() writes its chunk itself, so end() counts too.
 */
export function countingResponse<T>(responses: T, endWrites = false): T {
  const Base = responses as unknown as ResponseClass;
  const known = subclasses.get(Base);
  if (known) return known as T;
  const write = Base.prototype.write as Write;
  const end = Base.prototype.end as Write;
  // Methods on the prototype, plain parameters (no rest array): they run for every write.
  // Nothing is counted once the response is ended: later writes are refused and send nothing.
  class CountingResponse extends (Base as new () => object) {
    [SENT] = 0;
  }
  const proto = CountingResponse.prototype as unknown as Record<'write' | 'end', Write>;
  proto.write = function countingWrite(this: Counting, chunk, encoding, callback) {
    if (!this.writableEnded) this[SENT] += byteLength(chunk, encoding);
    return write.call(this, chunk, encoding, callback);
  };
  if (!endWrites) {
    proto.end = function countingEnd(this: Counting, chunk, encoding, callback) {
      if (!this.writableEnded) this[SENT] += byteLength(chunk, encoding);
      return end.call(this, chunk, encoding, callback);
    };
  }
  Object.defineProperty(CountingResponse, 'name', { value: `Counting${Base.name}` });
  subclasses.set(Base, CountingResponse);
  return CountingResponse as unknown as T;
}

/** The bytes a chunk of write() or end() puts in the body (a callback in its place counts none). */
function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string')
    return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk && typeof (chunk as Uint8Array).byteLength === 'number') return (chunk as Uint8Array).byteLength;
  return 0;
}
