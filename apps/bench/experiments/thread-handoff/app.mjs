// The request handler each thread serves: `hello` answers at once, `cpu` busy-loops 5 ms first.
// It counts the requests it serves and names its thread in an x-thread header.
import { performance } from 'node:perf_hooks';

const CPU_MS = 5;

function busyLoop(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // burn CPU on purpose: this stands for the application's own work
  }
}

export function createApp(handler, counter, threadId) {
  return (_request, response) => {
    counter.n++;
    if (handler === 'cpu') busyLoop(CPU_MS);
    response.setHeader('x-thread', threadId);
    response.end('hello');
  };
}
