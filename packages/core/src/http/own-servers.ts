/**
 * What the HTTP layer and listen capture (app/listen-capture.ts) share about servers: which are
 * kelpie's own, so that their listen() binds as asked and is never captured, and how the app's
 * own server, when kelpie serves it, is closed as a graceful stop starts. The HTTP layer marks
 * and closes; listen capture reads the marks and says how to close, so the HTTP layer does not
 * depend on the app layer.
 */

/** Servers kelpie itself listens with: never captured. */
const OWN = new WeakSet<object>();

/** Mark a server as kelpie's own, so that its listen binds as asked. */
export function ownServer<T extends object>(server: T): T {
  OWN.add(server);
  return server;
}

/** Whether kelpie made this server (ownServer). */
export function isOwnServer(server: object): boolean {
  return OWN.has(server);
}

let closeServed: (() => void) | undefined;

/** Listen capture, once started, says how the app's served server is closed when draining starts. */
export function onCloseAppServer(close: () => void): void {
  closeServed = close;
}

/** Draining starts: close the app's own server kelpie serves, if listen capture serves one. */
export function closeAppServer(): void {
  closeServed?.();
}
