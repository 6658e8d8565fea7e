/**
 * Listener descriptors a worker received for `duplicateListener` (SPEC.md 3.4), by descriptor. The
 * worker's channel keeps each handle here as it arrives; the accept gate takes the one it asked
 * for. Their handle objects stay referenced here and are never closed by this thread: the
 * descriptor belongs to whoever asked for it (a worker thread, which cannot use a handle of this
 * thread), unless that is this thread and it takes the handle itself (`adoptDuplicate`).
 */

/** A socket handle as it arrives over IPC (Node's TCP or Pipe wrap). */
export interface RawHandle {
  fd: number;
}

const duplicates = new Map<number, RawHandle>();

/** Keep a handle received with a listener descriptor until its asker adopts it. */
export function keepDuplicate(handle: RawHandle): void {
  duplicates.set(handle.fd, handle);
}

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
