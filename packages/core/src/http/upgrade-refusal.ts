import type { Duplex } from 'node:stream';
import type { AppWebSockets, UpgradeListener, UpgradeRefusal } from '../app/app.js';
import { STATUS_CODES } from '../node-http.js';
import type { Logger } from '../observability/logger.js';
import { rawResponse } from './raw-response.js';

/**
 * Upgrade refusals: an `Upgrade:` request answered with an HTTP status instead of switching
 * protocols, and the 426 that worker classes without WebSocket support give an app that uses
 * WebSockets (HttpServers installs it: its `refuseWebSockets` option).
 */

/** Answer an upgrade request with an HTTP status instead of switching protocols, then close. */
export function writeUpgradeRefusal(socket: Duplex, refusal: UpgradeRefusal): void {
  const { status, headers, body } =
    typeof refusal === 'number' ? { status: refusal, headers: {}, body: undefined } : refusal;
  const text = body ?? `${STATUS_CODES[status] ?? 'Refused'}\n`;
  if (socket.writable) socket.end(rawResponse(status, text, headers));
  else socket.destroy();
}

/**
 * For worker classes without WebSocket support: an app that uses WebSockets gets every upgrade
 * request refused with 426 and a warning that says which worker class serves them.
 */
export function refuseUpgrades(log: Logger, workerClass: string, app?: AppWebSockets): UpgradeListener {
  // attach(server) is for libraries (socket.io) that also answer plain HTTP requests, long-polling:
  // without it those reach the app's listener, and no upgrade ever comes to be refused.
  if (app?.attach) {
    log.warning(
      `The app exports attach(server), which -k ${workerClass} does not call: libraries it attaches (socket.io) are not served, their requests reach the app. Run it with -k ws`,
    );
  }
  return (req, socket) => {
    log.warning(
      `WebSocket upgrade refused for ${req.url}: the app defines WebSocket handlers, which -k ${workerClass} does not serve; run it with -k ws`,
    );
    writeUpgradeRefusal(socket, {
      status: 426,
      headers: { Upgrade: 'websocket' },
      body: `WebSocket upgrades need the ws worker class (kelpie -k ws).\n`,
    });
  };
}

/**
 * HttpServers' `refuseWebSockets`: the 426 refusal for the class named, when its app uses
 * WebSockets; undefined otherwise (Node closes upgrade requests then).
 */
export function refusedUpgrades(
  log: Logger,
  refuse: { workerClass: string; app: AppWebSockets } | undefined,
): UpgradeListener | undefined {
  return refuse && usesWebSockets(refuse.app) ? refuseUpgrades(log, refuse.workerClass, refuse.app) : undefined;
}

/** Whether the app wants WebSocket upgrades handled (any of websocket, upgrade, attach, crossws). */
export function usesWebSockets(app: AppWebSockets): boolean {
  return Boolean(app.websocket || app.upgrade || app.attach || app.crossws);
}
