// The stuck-thread check (run.mjs --stuck). With 2 threads, thread 0 is made to spin forever,
// standing for a request handler that never returns. How many new connections are still
// answered, and how many once the stuck thread is terminate()d?
import http from 'node:http';
import { freePort, startServer } from './harness.mjs';

const PROBE_TIMEOUT_MS = 1_000;
const PROBES_WHILE_STUCK = 10;
const PROBES_AFTER_TERMINATE = 20;

/** One request on a new connection: true if answered within 1 s. */
function probeOnce(port) {
  return new Promise((resolve) => {
    const request = http.get({ host: '127.0.0.1', port, agent: false, timeout: PROBE_TIMEOUT_MS }, (response) => {
      response.on('error', () => resolve(false));
      response.on('end', () => resolve(response.statusCode === 200));
      response.resume();
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
  });
}

/** `sent` requests one after the other, each on a new connection; how many were answered. */
async function probe(port, sent) {
  let answered = 0;
  for (let i = 0; i < sent; i++) {
    if (await probeOnce(port)) answered++;
  }
  return { answered, sent };
}

async function checkOption(node, option) {
  const port = await freePort();
  const server = await startServer({ node, option, threads: 2, handler: 'hello', port });
  try {
    await server.command('spin', 'SPINNING');
    const whileStuck = await probe(port, PROBES_WHILE_STUCK);
    const terminateMs = Number(await server.command('terminate', 'TERMINATED'));
    const afterTerminate = await probe(port, PROBES_AFTER_TERMINATE);
    return { option, whileStuck, terminateMs, afterTerminate };
  } finally {
    await server.stop();
  }
}

/** Per option: { option, whileStuck, terminateMs, afterTerminate }, the probes as { answered, sent }. */
export async function runStuck(node, options) {
  const results = [];
  for (const option of options) results.push(await checkOption(node, option));
  return results;
}
