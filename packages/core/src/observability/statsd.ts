import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { ClientOptions, StatsD } from 'hot-shots';
import { parseStatsdAddress } from '../config/parsers.js';
import type { Settings } from '../config/settings.js';
import type { Logger } from './logger.js';

/**
 * StatsD (`--statsd-host`): Gunicorn's metrics under kelpie's name, sent with hot-shots over UDP.
 * Workers send `kelpie.request.duration` (milliseconds, a timer) per response and
 * `kelpie.requests` and `kelpie.request.status.<code>` (counters, added up over 100 ms); the
 * arbiter sends the `kelpie.workers` gauge.
 * Packets are buffered by the client and sent at most every 100 ms (or at 1400 bytes), so a
 * request costs a string append, not a send.
 */

/** Checked with --statsd-host, kept with the settings' parsers. */
export { parseStatsdAddress };

type StatsdSettings = Pick<Settings, 'statsdHost' | 'statsdPrefix' | 'dogstatsdTags'>;

/** A StatsD client for the settings, or undefined without --statsd-host. hot-shots loads only then. */
export function statsdClient(settings: StatsdSettings, log: Logger): StatsD | undefined {
  if (!settings.statsdHost) return undefined;
  const address = parseStatsdAddress(settings.statsdHost);
  if (!address) return undefined;
  const prefix = settings.statsdPrefix ? settings.statsdPrefix.replace(/\.*$/, '.') : '';
  const { StatsD: Client } = createRequire(import.meta.url)('hot-shots') as typeof import('hot-shots');
  let reported = false;
  const options: ClientOptions = {
    host: address.host,
    port: address.port,
    prefix,
    globalTags: settings.dogstatsdTags,
    maxBufferSize: 1400,
    bufferFlushInterval: 100,
    // A missing StatsD server must not cost a log line per packet.
    errorHandler: (error) => {
      if (reported) return;
      reported = true;
      log.warning(`StatsD: could not send to ${settings.statsdHost}: ${error.message}`);
    },
  };
  const client = new Client(options);
  // The client's socket must not keep a stopping process alive.
  (client as unknown as { socket?: { unref?: () => void } }).socket?.unref?.();
  return client;
}

/**
 * The per-response StatsD metrics of a worker (Gunicorn's names). The duration is sent per
 * response (a StatsD server needs every sample for its percentiles); the two counters are added
 * up here and sent as one increment each per flush (`kelpie.requests:37|c`), which a StatsD server
 * sums exactly as it would 37 increments of 1, for a third of the client's work per request.
 */
export function statsdObserver(client: StatsD): (req: IncomingMessage, res: ServerResponse, seconds: number) => void {
  let requests = 0;
  const statuses = new Map<number, number>();
  const flush = () => {
    if (requests === 0) return;
    client.increment('kelpie.requests', requests);
    for (const [status, count] of statuses) client.increment(`kelpie.request.status.${status}`, count);
    requests = 0;
    statuses.clear();
  };
  setInterval(flush, COUNTER_FLUSH_MS).unref();
  return (_req, res, seconds) => {
    requests++;
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
    client.timing('kelpie.request.duration', seconds * 1000);
  };
}

/** How often the added-up counters go to the client (its own buffer is sent as often). */
const COUNTER_FLUSH_MS = 100;
