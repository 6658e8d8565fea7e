import { createSocket, type Socket, type SocketOptions } from 'node:dgram';
import { lookup } from 'node:dns';
import { parseStatsdAddress } from '../config/parsers.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from './logger.js';
import type { ResponseObserver } from './stats.js';

/**
 * StatsD (`--statsd-host`): Gunicorn's metrics under kelpie's name, over UDP. Workers send
 * `kelpie.request.duration` (milliseconds, a timer) for every response and `kelpie.requests` and
 * `kelpie.request.status.<code>` (counters, added up between flushes); the arbiter sends the
 * `kelpie.workers` gauge.
 *
 * Metric lines are packed, newline-separated, into datagrams of at most DATAGRAM_BYTES, sent
 * when one is full and 100 ms after the first line of a batch, and when the process exits. The
 * socket is connected once (the host resolved once, as Gunicorn does), so a datagram is one
 * send(): no address lookup per packet. A response costs a few array writes: its duration goes
 * into the datagram as ASCII digits, with no string built.
 *
 * When nothing listens at the address, the kernel answers each datagram on a connected socket
 * with an ICMP error that Node reads and raises as an `error` event (an Error, its stack, an
 * event loop wake-up: half as much again as the send). After the first such refusal (reported
 * once) the socket is disconnected and datagrams go to the same address by sendto(), which is
 * not told of refusals; a StatsD server that starts later receives them all the same.
 */

/** Checked with --statsd-host, kept with the settings' parsers. */
export { parseStatsdAddress };

/**
 * The largest datagram sent: what the StatsD documentation advises for a 1500-byte Ethernet MTU
 * (1500 less the IPv4 and UDP headers and room for IP options; 1452 is what fits over IPv6), so a
 * datagram is never fragmented on the way to a StatsD server on the local network. 512 bytes
 * (the advice for the open internet) would mean three times the sends for no gain on a LAN or
 * on the loopback, where StatsD agents run.
 */
export const DATAGRAM_BYTES = 1432;
/** How long a line waits for the rest of its datagram. */
export const STATSD_FLUSH_MS = 100;
/** Datagrams kept while the address is resolved and the socket connects; beyond, they are dropped. */
const MAX_WAITING = 64;
/** After a failed lookup, how long before the address is looked up again. */
const RETRY_MS = 10_000;
/** The most bytes a duration takes: 15 digits of milliseconds, a point, 3 digits. */
const MAX_VALUE_BYTES = 19;

export interface StatsdOptions {
  host: string;
  port: number;
  /** Put before every name, its dot included (`shop.`), or ''. */
  prefix: string;
  /** DogStatsD tags added to every line (`|#env:prod,team:web`). */
  tags: readonly string[];
  /** A failed lookup or send (at most one report per client is wise: see statsdClient()). */
  onError: (error: Error) => void;
}

/** A timer metric whose value is written straight into the datagram: `(seconds) => void`. */
export type TimerLine = (seconds: number) => void;

export class StatsdClient {
  readonly #options: StatsdOptions;
  readonly #tags: string;
  #datagram = Buffer.allocUnsafe(DATAGRAM_BYTES);
  #used = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #beforeFlush: (() => void)[] = [];
  #socket: Socket | undefined;
  #opening = false;
  #connected = false;
  /** Set once the server refused a datagram: where sendto() sends on the disconnected socket. */
  #to: { port: number; address: string } | undefined;
  #retryAt = 0;
  /** Datagrams waiting for the socket to connect. */
  #waiting: Buffer[] = [];
  #closed = false;
  /** The hooks run: their lines go out with this flush, no timer for them. */
  #flushing = false;
  readonly #onExit = () => this.flush();

  constructor(options: StatsdOptions) {
    this.#options = options;
    this.#tags = options.tags.length > 0 ? `|#${options.tags.join(',')}` : '';
    this.#open();
    process.once('exit', this.#onExit);
  }

  increment(name: string, value = 1): void {
    this.#line(`${this.#options.prefix}${name}:${value}|c${this.#tags}`);
  }

  gauge(name: string, value: number): void {
    this.#line(`${this.#options.prefix}${name}:${value}|g${this.#tags}`);
  }

  /** A timer line, `value` in milliseconds. */
  timing(name: string, value: number): void {
    this.#line(`${this.#options.prefix}${name}:${value}|ms${this.#tags}`);
  }

  /**
   * The per-response form of timing(): a function of a duration in seconds that appends
   * `<name>:<milliseconds>|ms`, to the microsecond (as Gunicorn sends it), without a string.
   */
  timer(name: string): TimerLine {
    const head = Buffer.from(`${this.#options.prefix}${name}:`);
    const tail = Buffer.from(`|ms${this.#tags}`);
    const most = head.length + MAX_VALUE_BYTES + tail.length;
    return (seconds) => {
      let at = this.#reserve(most);
      const datagram = this.#datagram;
      for (let i = 0; i < head.length; i++) datagram[at++] = head[i] as number;
      at = writeMilliseconds(datagram, at, seconds);
      for (let i = 0; i < tail.length; i++) datagram[at++] = tail[i] as number;
      this.#used = at;
    };
  }

  /** Run `hook` before every flush: counters added up elsewhere go out with the lines then. */
  beforeFlush(hook: () => void): void {
    this.#beforeFlush.push(hook);
  }

  /** Send every line waiting (the timer's flush, and the process's exit). */
  flush(): void {
    this.#flushing = true;
    for (const hook of this.#beforeFlush) hook();
    this.#flushing = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#sendDatagram();
  }

  /** Flush, then close the socket. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    process.off('exit', this.#onExit);
    this.#socket?.close();
  }

  /** Append a whole line (prefix and tags included). */
  #line(text: string): void {
    const length = Buffer.byteLength(text);
    if (length > DATAGRAM_BYTES) {
      // Only an absurd prefix or tag list makes one: a datagram of its own.
      this.#sendDatagram();
      this.#send(Buffer.from(text));
      return;
    }
    const at = this.#reserve(length);
    this.#used = at + this.#datagram.write(text, at);
  }

  /** Room for a line of up to `bytes`: where it starts (after the newline that separates it). */
  #reserve(bytes: number): number {
    if (this.#used > 0 && this.#used + 1 + bytes > DATAGRAM_BYTES) this.#sendDatagram();
    if (this.#used > 0) this.#datagram[this.#used++] = 0x0a;
    else if (!this.#timer && !this.#flushing && !this.#closed) {
      this.#timer = setTimeout(() => this.flush(), STATSD_FLUSH_MS);
      this.#timer.unref();
    }
    return this.#used;
  }

  #sendDatagram(): void {
    if (this.#used === 0) return;
    const datagram = this.#datagram.subarray(0, this.#used);
    // The next lines get another buffer: this one is the socket's until sent.
    this.#datagram = Buffer.allocUnsafe(DATAGRAM_BYTES);
    this.#used = 0;
    this.#send(datagram);
  }

  #send(datagram: Buffer): void {
    if (this.#closed) return;
    if (!this.#connected) {
      if (this.#waiting.length < MAX_WAITING) this.#waiting.push(datagram);
      if (!this.#socket && !this.#opening && Date.now() >= this.#retryAt) this.#open();
      return;
    }
    try {
      // No callback: an error (ECONNREFUSED once nothing listens) is the socket's 'error' event.
      const to = this.#to;
      if (to) this.#socket?.send(datagram, to.port, to.address);
      else this.#socket?.send(datagram);
    } catch (error) {
      this.#options.onError(error as Error);
    }
  }

  /** Resolve the host once and connect a socket to it; what waited is sent once connected. */
  #open(): void {
    const { host, port, onError } = this.#options;
    this.#opening = true;
    this.#retryAt = Date.now() + RETRY_MS;
    lookup(host, (error, address, family) => {
      this.#opening = false;
      if (this.#closed) return;
      if (error) {
        onError(error);
        return;
      }
      // The address is resolved: sendto() after a refusal needs no lookup, nor a tick for one.
      const resolved: SocketOptions['lookup'] = (_host, _options, callback) => callback(null, address, family);
      const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: resolved });
      this.#socket = socket;
      socket.on('error', (error: NodeJS.ErrnoException) => {
        onError(error);
        if (error.code === 'ECONNREFUSED') this.#disconnect(port, address);
      });
      // The socket must not keep a stopping process alive.
      socket.unref();
      socket.connect(port, address, () => {
        this.#connected = true;
        const waiting = this.#waiting;
        this.#waiting = [];
        for (const datagram of waiting) this.#send(datagram);
      });
    });
  }

  /** Nothing listened: send by sendto() from now on, which hears of no refusal (see the top). */
  #disconnect(port: number, address: string): void {
    if (this.#to || !this.#connected) return;
    try {
      this.#socket?.disconnect();
      this.#to = { port, address };
    } catch (error) {
      this.#options.onError(error as Error);
    }
  }
}

/**
 * Write `seconds` as milliseconds to the microsecond (`12.3`, `0.045`, `7`: no trailing zeros)
 * into `out` at `at`; returns where it ends.
 */
export function writeMilliseconds(out: Buffer, at: number, seconds: number): number {
  let micros = Math.round(seconds * 1e6);
  if (!(micros > 0)) micros = 0;
  else if (micros > 999_999_999_999_999) micros = 999_999_999_999_999;
  const whole = Math.floor(micros / 1000);
  const fraction = micros - whole * 1000;
  let digits = 1;
  for (let n = whole; n >= 10; n = Math.floor(n / 10)) digits++;
  let end = at + digits;
  for (let n = whole, i = end - 1; i >= at; i--, n = Math.floor(n / 10)) out[i] = 0x30 + (n % 10);
  if (fraction === 0) return end;
  out[end++] = 0x2e;
  const tenths = Math.floor(fraction / 100);
  const hundredths = Math.floor(fraction / 10) % 10;
  const thousandths = fraction % 10;
  out[end++] = 0x30 + tenths;
  if (hundredths === 0 && thousandths === 0) return end;
  out[end++] = 0x30 + hundredths;
  if (thousandths !== 0) out[end++] = 0x30 + thousandths;
  return end;
}

type StatsdSettings = Pick<Settings, 'statsdHost' | 'statsdPrefix' | 'dogstatsdTags'>;

/** A StatsD client for the settings, or undefined without --statsd-host. */
export function statsdClient(settings: StatsdSettings, log: Logger): StatsdClient | undefined {
  if (!settings.statsdHost) return undefined;
  const address = parseStatsdAddress(settings.statsdHost);
  if (!address) return undefined;
  let reported = false;
  return new StatsdClient({
    host: address.host,
    port: address.port,
    prefix: settings.statsdPrefix ? settings.statsdPrefix.replace(/\.*$/, '.') : '',
    tags: settings.dogstatsdTags,
    // A missing StatsD server must not cost a log line per packet.
    onError: (error) => {
      if (reported) return;
      reported = true;
      log.warning(`StatsD: could not send to ${settings.statsdHost}: ${error.message}`);
    },
  });
}

/** Statuses 100-599 are counted in an array; anything else (0 from a destroyed stream) in a map. */
const STATUS_SLOTS = 600;

/**
 * The per-response StatsD metrics of a worker (Gunicorn's names). The duration is sent for every
 * response (a StatsD server needs every sample for its percentiles); the two counters are added
 * up here and sent as one increment each per flush (`kelpie.requests:37|c`), which a StatsD server
 * sums exactly as it would 37 increments of 1.
 */
export function statsdObserver(client: StatsdClient): ResponseObserver {
  let requests = 0;
  const statuses = new Float64Array(STATUS_SLOTS);
  const others = new Map<number, number>();
  client.beforeFlush(() => {
    if (requests === 0) return;
    client.increment('kelpie.requests', requests);
    for (let status = 100; status < STATUS_SLOTS; status++) {
      const count = statuses[status] as number;
      if (count === 0) continue;
      client.increment(`kelpie.request.status.${status}`, count);
      statuses[status] = 0;
    }
    for (const [status, count] of others) client.increment(`kelpie.request.status.${status}`, count);
    requests = 0;
    others.clear();
  });
  const duration = client.timer('kelpie.request.duration');
  return (status, seconds) => {
    requests++;
    if (status >= 100 && status < STATUS_SLOTS) (statuses[status] as number)++;
    else others.set(status, (others.get(status) ?? 0) + 1);
    duration(seconds);
  };
}
