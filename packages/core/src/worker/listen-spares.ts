import net from 'node:net';
import { getSystemErrorName } from 'node:util';
import { LISTEN_SPARES_ENV } from '../ipc/protocol.js';

/**
 * The first worker's listen(2) on the arbiter's sockets (SPEC.md 3.1 step 4). The arbiter binds
 * and never listens itself: Node has no public way to listen without also polling. This worker
 * inherits a spare descriptor of each socket beside its own, and before it loads anything it calls
 * listen(2) on each spare and closes it in the same turn of the event loop, so the spare is never
 * polled; the socket stays listening (a state of the socket, not of a descriptor) in the arbiter
 * and every worker. That used to be a `node -e` helper process of its own, a third Node start on
 * top of the first two workers'. The outcome goes to the arbiter as `kelpie:listened`.
 */

interface RawHandle {
  listen(backlog: number): number;
  close(): void;
}

/** libuv's name for an error status (EADDRINUSE), or UNKNOWN. */
function errorName(status: number): string {
  const name = getSystemErrorName(status);
  return /^E[A-Z0-9]{1,30}$/.test(name) ? name : 'UNKNOWN';
}

type CreateServerHandle = (address: null, port: number, addressType: number, fd: number) => RawHandle | number;

/** listen(2) on each spare descriptor of `spec` (`BACKLOG:FD,FD...`), then close it: 'ok' or the error's name. */
export function listenOnSpares(spec: string): string[] {
  const [backlogText = '', fdsText = ''] = spec.split(':');
  const backlog = Number(backlogText);
  // The function node:cluster uses to wrap a descriptor in a server handle (TCP or pipe).
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })._createServerHandle;
  return fdsText.split(',').map((text) => {
    const fd = Number(text);
    if (typeof create !== 'function') return 'ENOSYS';
    if (!Number.isInteger(fd) || fd < 0 || !Number.isInteger(backlog)) return 'EINVAL';
    const handle = create(null, 0, -1, fd);
    if (typeof handle === 'number') return errorName(handle);
    const status = handle.listen(backlog);
    // Closes this descriptor only; the loop has not run since listen, so it was never polled.
    handle.close();
    return status < 0 ? errorName(status) : 'ok';
  });
}

/** For the first worker only: listen on the spares the arbiter passed, report, and forget the variable. */
export function listenOnSparesFromEnv(): void {
  const spec = process.env[LISTEN_SPARES_ENV];
  if (spec === undefined) return;
  delete process.env[LISTEN_SPARES_ENV];
  process.send?.({ type: 'kelpie:listened', states: listenOnSpares(spec) });
}
