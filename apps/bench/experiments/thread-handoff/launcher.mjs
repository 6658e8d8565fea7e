// The launcher stands in for kelpie's primary process: it creates the listening socket on
// 127.0.0.1:PORT and starts worker.mjs with duplicates of it at fd 3, 4, ... (one per thread
// for A, one for C and M, none for B, whose threads bind their own sockets). It closes its own
// copy so it never accepts, and exits when the worker process does.
// Usage: node launcher.mjs OPTION THREADS HANDLER PORT
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const [option, threads, , port] = args;

function startWorker(fds) {
  const worker = spawn(process.execPath, [fileURLToPath(new URL('worker.mjs', import.meta.url)), ...args], {
    stdio: ['inherit', 'inherit', 'inherit', ...fds],
  });
  worker.on('exit', (code) => process.exit(code ?? 1));
}

function descriptorCount() {
  if (option === 'A') return Number(threads);
  return option === 'B' ? 0 : 1;
}

const count = descriptorCount();
if (count === 0) {
  startWorker([]);
} else {
  const server = net.createServer();
  server.listen({ port: Number(port), host: '127.0.0.1' }, () => {
    // Listing one descriptor several times gives the child that many duplicates of it.
    startWorker(Array(count).fill(server._handle.fd));
    server.close();
  });
}
