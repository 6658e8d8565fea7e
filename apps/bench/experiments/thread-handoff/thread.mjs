// One worker_thread of worker.mjs: an http.Server that gets its connections the way the option
// says. A listens on its own descriptor of the inherited socket, B binds its own socket with
// reusePort, C is handed connections by the main thread over MessagePorts.
// Messages from the main thread: conn (C), count (reply: requests served), spin (reply, then
// loop forever, standing for a request handler that never returns).
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { createApp } from './app.mjs';
import { PortDuplex } from './port-duplex.mjs';

const { option, fd, port, handler, id } = workerData;
const counter = { n: 0 };
const server = http.createServer(createApp(handler, counter, id));

function spinForever() {
  parentPort.postMessage({ type: 'spin', value: true });
  for (;;) {
    // stuck on purpose
  }
}

parentPort.on('message', (message) => {
  if (message.type === 'conn') server.emit('connection', new PortDuplex(message.port, message.info));
  else if (message.type === 'count') parentPort.postMessage({ type: 'count', value: counter.n });
  else if (message.type === 'spin') spinForever();
});

const ready = () => parentPort.postMessage({ type: 'ready' });
if (option === 'A') server.listen({ fd }, ready);
else if (option === 'B') server.listen({ port, host: '127.0.0.1', reusePort: true }, ready);
else ready();
