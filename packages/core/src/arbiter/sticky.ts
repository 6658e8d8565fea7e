import type { ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import type { Settings } from '../config/settings.js';
import { KelpieError } from '../errors.js';
import { peerTrust } from '../http/forwarded.js';
import { PROXY_HEADER_MAX, type ProxyHeader, type ProxyMode, parseProxyHeader } from '../http/proxy-protocol.js';
import type { ConnectionMessage } from '../ipc/protocol.js';
import { type Logger, LogThrottle } from '../observability/logger.js';
import type { WorkerClass } from '../worker/worker.js';
import type { ClientHandle } from './listeners.js';

/**
 * --sticky: every connection of one client goes to the same worker. The arbiter accepts (as it
 * does for `accept = 'arbiter'` classes), finds the client's address (the peer's, or the PROXY
 * header's, which it then reads itself), and picks the worker by rendezvous hashing of that
 * address over the slots of the workers that are ready. This file holds the start-time checks,
 * the choice, the arbiter's bounded read of a PROXY header, and `StickyDispatch`, which takes a
 * connection from accept to its worker; the arbiter gives it the workers and their slots.
 *
 * Rendezvous (highest random weight) hashing: each address scores every slot and goes to the
 * highest score. A slot that is missing for a while (its worker is being replaced, or stopping)
 * sends its clients to their second choice and takes them back when it returns; adding a slot
 * (TTIN) moves only the clients that now score it highest, about 1/N of them; removing one (TTOU)
 * moves only its own. The hash is fixed (no random seed), so every arbiter routes alike.
 */

/** Refuse, before anything is bound, what --sticky cannot honour with this worker class and these settings. */
export function checkSticky(settings: Settings, workerClass: Pick<WorkerClass, 'meta' | 'accept' | 'sticky'>): void {
  if (!settings.sticky) return;
  const name = workerClass.meta?.name ?? 'this class';
  if (workerClass.accept === 'arbiter') {
    throw new KelpieError(
      'KELPIE_ERR_INVALID_SETTING',
      `Invalid setting: --sticky with -k ${name}. Its arbiter already hands every connection to an idle worker, for one request each, so there is no session a worker could keep; socket.io and other long-polling clients need -k ws (or -k async) with --sticky.`,
    );
  }
  if (workerClass.sticky !== true) {
    throw new KelpieError(
      'KELPIE_ERR_INVALID_SETTING',
      `Invalid setting: --sticky with -k ${name}, a worker class that cannot take connections from the arbiter (no \`static sticky = true\`). Use -k async or -k ws with --sticky, or leave --sticky out.`,
    );
  }
  if (settings.reusePort) {
    throw new KelpieError(
      'KELPIE_ERR_INVALID_SETTING',
      'Invalid setting: --sticky with --reuse-port. Under --sticky the arbiter accepts every connection and picks its worker; --reuse-port has each worker accept on a socket of its own, which the kernel fills by its own hash. Use one of the two.',
    );
  }
}

/** A 32-bit hash of a client address (FNV-1a); an IPv4-mapped IPv6 address hashes as its IPv4 form. */
export function addressHash(address: string): number {
  const text = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** MurmurHash3's finalizer: every bit of the input moves every bit of the output. */
function mix(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** How much an address (its hash) wants a slot: the highest score wins. */
export function slotScore(hash: number, slot: number): number {
  return mix(hash ^ mix(slot + 0x9e3779b9));
}

/** What the choice needs of a worker. */
export interface StickyCandidate {
  slot: number;
  /** Of a generation a reload (HUP) replaces: a current worker of the same slot goes first. */
  outdated: boolean;
}

/**
 * The worker for an address among `candidates` (the workers that can take a connection now):
 * the highest-scoring slot; within a slot, a worker of the current generation. Undefined when
 * there is no candidate.
 */
export function chooseWorker<T extends StickyCandidate>(hash: number, candidates: Iterable<T>): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const candidate of candidates) {
    const score = slotScore(hash, candidate.slot);
    if (score > bestScore || (score === bestScore && best?.outdated && !candidate.outdated)) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/** The lowest slot no one holds: a new worker takes it (so a replacement takes the slot its predecessor left). */
export function freeSlot(held: Iterable<number>): number {
  const taken = new Set(held);
  let slot = 0;
  while (taken.has(slot)) slot++;
  return slot;
}

/** The peer address of an accepted handle (TCP); undefined for a unix socket's peer. */
export function peerAddress(client: ClientHandle): string | undefined {
  const out: { address?: string } = {};
  const getpeername = (client as { getpeername?: (out: object) => number }).getpeername;
  if (typeof getpeername !== 'function') return undefined;
  return getpeername.call(client, out) === 0 ? out.address : undefined;
}

/** A connection the arbiter accepted under --sticky, ready to be sent to a worker. */
export interface StickyConnection {
  /** The handle to send. */
  readonly handle: ClientHandle;
  /** The client's address (PROXY header, else peer); undefined for a unix peer without a header. */
  readonly address: string | undefined;
  /** What the arbiter read of the connection (a PROXY header and what followed it). */
  readonly read?: NonNullable<ConnectionMessage['read']>;
  /** Close the arbiter's descriptor: once sent, or when no worker will take it. */
  close(): void;
}

/**
 * Find the client's address of a connection just accepted: `done` gets the connection, or
 * undefined once it has been closed (a bad or missing header, the client gone, abandoned).
 * Returns a function that abandons the read and closes the connection.
 */
export type StickyReader = (
  client: ClientHandle,
  done: (connection: StickyConnection | undefined) => void,
) => () => void;

/**
 * The arbiter's side of --proxy-protocol under --sticky. From a peer in --proxy-allow-from (or a
 * unix socket's), the header is read here: at most one header's bytes per read, within
 * --header-timeout (10 s when that is 0), and reading stops as soon as the header is parsed, so
 * what the client sent after it stays small (one read) and goes to the worker with the header.
 * From another peer nothing is read: its address is the client's, and the worker's own reader
 * refuses a header it sends, as without --sticky. A malformed header, a silent client or one
 * that closes early is dropped and logged (at most once a second).
 */
export function stickyReader(
  settings: Pick<Settings, 'proxyProtocol' | 'proxyAllowFrom' | 'headerTimeout'>,
  log: Logger,
): StickyReader {
  const mode = settings.proxyProtocol as ProxyMode | 'off';
  const allowed = peerTrust(settings.proxyAllowFrom);
  const timeoutMs = (settings.headerTimeout || 10) * 1000;
  const refusals = new LogThrottle(1000);
  const refuse = (peer: string | undefined, reason: string) => {
    const skipped = refusals.take();
    if (skipped === undefined) return;
    const more = skipped > 0 ? ` (and ${skipped} more since the last report)` : '';
    log.warning(`Invalid PROXY header from ip=${peer ?? '-'}: ${reason}; closed the connection${more}`);
  };
  return (client, done) => {
    const peer = peerAddress(client);
    if (mode === 'off' || (peer !== undefined && !allowed(peer))) {
      done({ handle: client, address: peer, close: () => client.close() });
      return () => {};
    }
    let buffered = Buffer.alloc(0);
    let finished = false;
    const finish = (): boolean => {
      if (finished) return false;
      finished = true;
      clearTimeout(timer);
      return true;
    };
    const drop = (reason?: string) => {
      if (!finish()) return;
      if (reason) refuse(peer, reason);
      socket.destroy();
      done(undefined);
    };
    const onRead = (length: number, chunk: Buffer): false | undefined => {
      if (finished) return false;
      buffered = Buffer.concat([buffered, chunk.subarray(0, length)]);
      let parsed: ReturnType<typeof parseProxyHeader>;
      try {
        parsed = parseProxyHeader(buffered, mode);
      } catch (error) {
        drop((error as Error).message);
        return false;
      }
      if (parsed === 'incomplete') {
        if (buffered.length <= PROXY_HEADER_MAX) return undefined;
        drop(`no complete PROXY header in ${buffered.length} bytes`);
        return false;
      }
      finish();
      const header: ProxyHeader | null = parsed === 'absent' ? null : parsed.header;
      const rest = parsed === 'absent' ? buffered : buffered.subarray(parsed.length);
      const address = header?.command === 'PROXY' && header.sourceAddress ? header.sourceAddress : peer;
      // Reading has stopped (false below): the worker reads the rest of the connection.
      queueMicrotask(() =>
        done({
          handle: client,
          address,
          read: { header, rest: rest.toString('base64') },
          close: () => socket.destroy(),
        }),
      );
      return false;
    };
    // A socket over the accepted handle only to read the header into a buffer of one header's
    // size; returning false from onread stops reading at once (net.Socket's `onread` option).
    const socket = new Socket({
      handle: client,
      readable: true,
      writable: true,
      onread: { buffer: Buffer.alloc(PROXY_HEADER_MAX), callback: onRead },
    } as never);
    socket.on('error', () => drop());
    socket.on('end', () => drop());
    // Flowing, so that an early end is seen; no data passes through the stream in this mode.
    socket.resume();
    const timer = setTimeout(() => drop(`no complete PROXY header within ${timeoutMs / 1000} s`), timeoutMs);
    return () => drop();
  };
}

/** What the dispatch needs of the arbiter's record of a worker. */
export interface StickyWorker extends StickyCandidate {
  ready: boolean;
  retiring: boolean;
  child: Pick<ChildProcess, 'connected' | 'send'>;
}

export interface StickyDispatchOptions<W extends StickyWorker> {
  log: Logger;
  /** Every worker the arbiter has (the dispatch picks the ready ones). */
  workers: () => Iterable<W>;
  /** The settings in effect (HUP may change --proxy-protocol, --proxy-allow-from, --backlog). */
  settings: () => Settings;
  /** Listener `index`'s URL and whether it is TCP, for the warning about connections without an address. */
  listener: (index: number) => { url: string; tcp: boolean } | undefined;
  /** The arbiter still serves: a connection that comes back from a failed send is closed otherwise. */
  running: () => boolean;
}

/** How often a connection whose send failed is tried with the client's next choice. */
const SEND_ATTEMPTS = 3;

/**
 * The arbiter's --sticky path, from an accepted connection to the worker that has it: the read
 * of a PROXY header (stickyReader), the choice (chooseWorker), the send over IPC, and the
 * connections that wait while no worker is ready (up to --backlog with the headers being read).
 */
export class StickyDispatch<W extends StickyWorker> {
  readonly #options: StickyDispatchOptions<W>;
  #reader: { settings: Settings; read: StickyReader } | undefined;
  /** PROXY headers being read, each with what abandons it. */
  readonly #reads = new Set<() => void>();
  /** Connections waiting for a ready worker, oldest first. */
  #waiting: { connection: StickyConnection; listener: number }[] = [];
  /** Where the next connection without a client address goes (they are spread). */
  #spread = 0;
  #warnedNoAddress = false;

  constructor(options: StickyDispatchOptions<W>) {
    this.#options = options;
  }

  /** Connections the arbiter holds: headers being read and connections waiting for a worker. */
  get pending(): number {
    return this.#reads.size + this.#waiting.length;
  }

  /** A connection accepted on listener `listener`: find its client's address, then send it on. */
  accept(client: ClientHandle, listener: number): void {
    const settings = this.#options.settings();
    if (this.#reader?.settings !== settings)
      this.#reader = { settings, read: stickyReader(settings, this.#options.log) };
    let reading = true;
    let abandon: (() => void) | undefined;
    abandon = this.#reader.read(client, (connection) => {
      reading = false;
      if (abandon) this.#reads.delete(abandon);
      if (!connection) return;
      if (this.#options.running()) this.#send(connection, listener, 0);
      else connection.close();
    });
    if (reading) this.#reads.add(abandon);
  }

  /** A worker became ready: the connections that waited go now. */
  dispatchWaiting(): void {
    if (this.#waiting.length === 0 || !this.#options.running()) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const { connection, listener } of waiting) this.#send(connection, listener, 0);
  }

  /** Stop: close the connections waiting and those whose header is being read; how many there were. */
  close(): number {
    const count = this.pending;
    for (const { connection } of this.#waiting.splice(0)) connection.close();
    for (const abandon of [...this.#reads]) abandon();
    return count;
  }

  /** Send a connection to its client's worker, or keep it (within --backlog) while no worker is ready. */
  #send(connection: StickyConnection, listener: number, attempt: number): void {
    const worker = this.#choose(connection.address, listener);
    if (!worker || attempt >= SEND_ATTEMPTS) {
      if (worker || this.pending >= this.#options.settings().backlog) connection.close();
      else this.#waiting.push({ connection, listener });
      return;
    }
    const message: ConnectionMessage = {
      type: 'kelpie:connection',
      listener,
      ...(connection.read ? { read: connection.read } : {}),
    };
    const sent = (error: Error | null) => {
      // Sent: the worker has its own descriptor now.
      if (!error) connection.close();
      // The worker is gone: the client's next choice takes it, unless the arbiter is stopping.
      else if (this.#options.running()) this.#send(connection, listener, attempt + 1);
      else connection.close();
    };
    try {
      worker.child.send(message, connection.handle as never, sent);
    } catch (error) {
      sent(error as Error);
    }
  }

  /**
   * The worker for a client address, among the ready workers that are not stopping. A connection
   * without an address (a unix socket's peer, no PROXY header) cannot be sticky: those are spread
   * over the ready workers in turn, and the arbiter says so once.
   */
  #choose(address: string | undefined, listener: number): W | undefined {
    const ready: W[] = [];
    for (const worker of this.#options.workers()) {
      if (worker.ready && !worker.retiring && worker.child.connected) ready.push(worker);
    }
    if (address !== undefined) return chooseWorker(addressHash(address), ready);
    const where = this.#options.listener(listener);
    // A TCP peer without an address is one already gone; a unix socket's peer never has one.
    if (!this.#warnedNoAddress && ready.length > 1 && where && !where.tcp) {
      this.#warnedNoAddress = true;
      this.#options.log.warning(
        `--sticky: connections on ${where.url} carry no client address (a unix socket without a PROXY header): they are spread over the workers, not sticky. Have the proxy in front send the PROXY protocol (--proxy-protocol), or see docs/frameworks.md`,
      );
    }
    this.#spread = (this.#spread + 1) % 0x40000000;
    return ready[this.#spread % ready.length];
  }
}
