import { Socket } from 'node:net';
import { keepDuplicate, type RawHandle } from '../http/duplicates.js';
import type { ConnectionMessage, ListenerMessage, ReleaseMessage, WorkerMessage } from '../ipc/protocol.js';
import { HeldConnection, type RawHandle as HeldHandle } from './held-connection.js';
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

export function createChannel(onMaxRequests: () => void): WorkerChannel {
  const waiting = new Map<number, ((fd: number) => void)[]>();
  process.on('message', (message: ListenerMessage, handle?: RawHandle) => {
    if (message?.type !== 'kelpie:listener' || !handle) return;
    keepDuplicate(handle);
    waiting.get(message.listener)?.shift()?.(handle.fd);
  });
  return {
    requestConnections(count, hold) {
      send(hold === undefined ? { type: 'kelpie:accept', count } : { type: 'kelpie:accept', count, hold });
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

/**
 * Connections the arbiter accepted for this worker (`accept = 'arbiter'` classes, --sticky), as
 * sockets; those sent to hold (`held`) go to `hold` as the raw handle, unread (held-connection.ts).
 */
export function receiveConnections(
  take: (socket: Socket, message: ConnectionMessage) => void,
  hold: (handle: HeldHandle, message: ConnectionMessage & { held: number }) => void,
): void {
  process.on('message', (message: ConnectionMessage | ReleaseMessage, handle?: HeldHandle) => {
    if (message?.type === 'kelpie:release') {
      HeldConnection.releaseAll();
      return;
    }
    if (message?.type !== 'kelpie:connection' || !handle) return;
    if (typeof message.held === 'number') {
      hold(handle, message as ConnectionMessage & { held: number });
      return;
    }
    // A raw handle, as node:cluster hands them to its workers.
    take(new Socket({ handle, readable: true, writable: true } as never), message);
  });
}
