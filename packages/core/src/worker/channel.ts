import { Socket } from 'node:net';
import type { ConnectionMessage, ListenerMessage, WorkerMessage } from '../ipc/protocol.js';
import type { WorkerChannel } from './worker.js';

/**
 * The worker process's end of the IPC channel to the arbiter: messages to it (`send`), the
 * `WorkerChannel` a worker class asks core and the arbiter through (connections, duplicated
 * listener descriptors, --max-requests), and the connections the arbiter hands over.
 */

export function send(message: WorkerMessage): void {
  if (!process.connected) return;
  // A failed send means the arbiter is gone; 'disconnect' handles that.
  process.send?.(message, undefined, {}, () => {});
}

/** A socket handle as it arrives over IPC (Node's TCP or Pipe wrap). */
interface RawHandle {
  fd: number;
}

/**
 * Listener descriptors received for `duplicateListener`, by descriptor. Their handle objects stay
 * referenced here and are never closed by this thread: the descriptor belongs to whoever asked
 * for it (a worker thread, which cannot use a handle of this thread), unless that is this thread
 * and it takes the handle itself (`adoptDuplicate`).
 */
const duplicates = new Map<number, RawHandle>();

/**
 * The handle that came with descriptor `fd` from `duplicateListener`, if this thread received it:
 * the caller owns it from now on (listens on it, closes it), so that no second handle is opened
 * on the descriptor. Undefined in worker threads and for descriptors this thread did not receive.
 */
export function adoptDuplicate(fd: number): object | undefined {
  const handle = duplicates.get(fd);
  duplicates.delete(fd);
  return handle;
}

export function createChannel(onMaxRequests: () => void): WorkerChannel {
  const waiting = new Map<number, ((fd: number) => void)[]>();
  process.on('message', (message: ListenerMessage, handle?: RawHandle) => {
    if (message?.type !== 'kelpie:listener' || !handle) return;
    duplicates.set(handle.fd, handle);
    waiting.get(message.listener)?.shift()?.(handle.fd);
  });
  return {
    requestConnections(count) {
      send({ type: 'kelpie:accept', count });
    },
    duplicateListener(index) {
      return new Promise((resolve) => {
        const queue = waiting.get(index) ?? [];
        queue.push(resolve);
        waiting.set(index, queue);
        send({ type: 'kelpie:dup', listener: index });
      });
    },
    maxRequestsReached: onMaxRequests,
  };
}

/** Connections the arbiter accepted for this worker (`accept = 'arbiter'` classes, --sticky), as sockets. */
export function receiveConnections(take: (socket: Socket, message: ConnectionMessage) => void): void {
  process.on('message', (message: ConnectionMessage, handle?: unknown) => {
    if (message?.type !== 'kelpie:connection' || !handle) return;
    // A raw handle, as node:cluster hands them to its workers.
    take(new Socket({ handle, readable: true, writable: true } as never), message);
  });
}
