import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { ClientOptions, StatsD } from 'hot-shots';
import type { Logger } from './logger.js';
import type { Settings } from './settings.js';

/**
 * StatsD (`--statsd-host`): Gunicorn's metrics under kelpie's name, sent with hot-shots over UDP.
 * Workers send `kelpie.requests`, `kelpie.request.duration` (milliseconds, a timer) and
 * `kelpie.request.status.<code>` per response; the arbiter sends the `kelpie.workers` gauge.
 * Packets are buffered by the client and sent at most every 100 ms (or at 1400 bytes), so a
 * request costs a string append, not a send.
 */

/** HOST:PORT of --statsd-host: `[::1]:8125`, `localhost:8125`, `statsd` (port 8125). */
export function parseStatsdAddress(text: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text.trim());
  if (!match) return undefined;
  const port = match[3] === undefined ? 8125 : Number(match[3]);
  if (port < 1 || port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

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

/** The per-response StatsD metrics of a worker (Gunicorn's names). */
export function statsdObserver(client: StatsD): (req: IncomingMessage, res: ServerResponse, seconds: number) => void {
  return (_req, res, seconds) => {
    client.increment('kelpie.requests');
    client.timing('kelpie.request.duration', seconds * 1000);
    client.increment(`kelpie.request.status.${res.statusCode}`);
  };
}
