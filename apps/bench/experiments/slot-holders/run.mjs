#!/usr/bin/env node
// Slot holders (issue 17, item 4): clients that ask for a large response and never read it hold
// their connection slots. This starts `kelpie -w 1 --worker-connections 50 [--send-timeout S]`
// on loopback, opens 50 such clients, then sends 120 normal requests (fresh connections, 4 at a
// time, each given up to 10 s, no retries) and prints how many were answered. With --reconnect,
// each slot holder that is cut off comes back at once (a persistent attack). --idle N adds N
// idle keep-alive connections (one request each, then silence), the second attack of item 4;
// --workers and --worker-connections change the server. See README.md.
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'send-timeout': { type: 'string' },
    holders: { type: 'string', default: '50' },
    clients: { type: 'string', default: '120' },
    reconnect: { type: 'boolean', default: false },
    idle: { type: 'string', default: '0' },
    workers: { type: 'string', default: '1' },
    'worker-connections': { type: 'string' },
  },
});
const holders = Number(values.holders);
const clients = Number(values.clients);
const bin = fileURLToPath(new URL('../../../../packages/kelpie/bin/kelpie.js', import.meta.url));
const app = fileURLToPath(new URL('./app.mjs', import.meta.url));
const idleCount = Number(values.idle);
const limit = values['worker-connections'] ?? String(holders);
const args = [bin, '-b', '127.0.0.1:0', '-w', values.workers, '--worker-connections', limit];
if (values['send-timeout'] !== undefined) args.push('--send-timeout', values['send-timeout']);
args.push('--no-control-socket', app);

const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
let log = '';
child.stderr.setEncoding('utf8').on('data', (chunk) => {
  log += chunk;
});
const deadline = Date.now() + 30_000;
while (!/Ready: /.test(log)) {
  if (Date.now() > deadline || child.exitCode !== null) throw new Error(`kelpie did not start:\n${log}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
}
const port = Number(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(log)[1]);

let stopping = false;
const held = new Set();
function holdSlot() {
  const socket = connect(port, '127.0.0.1', () => socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n'));
  held.add(socket);
  // A socket that does not read does not see a reset either: a blank line now and then (which
  // HTTP/1.1 servers skip between requests) does, as an attacker's event loop would.
  const probe = values.reconnect ? setInterval(() => socket.write('\r\n'), 250) : undefined;
  socket.on('error', () => {});
  socket.on('close', () => {
    clearInterval(probe);
    held.delete(socket);
    if (values.reconnect && !stopping) holdSlot();
  });
}
for (let i = 0; i < holders; i++) holdSlot();
// Idle keep-alive connections: one request, then nothing; back at once when the server closes one.
function idle() {
  const socket = connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  held.add(socket);
  socket.on('data', () => {});
  socket.on('error', () => {});
  socket.on('close', () => {
    held.delete(socket);
    if (values.reconnect && !stopping) setTimeout(idle, 10);
  });
}
for (let i = 0; i < idleCount; i++) idle();
// Until the worker has sent what the kernel takes and every slot is stuck.
await new Promise((resolve) => setTimeout(resolve, 1000));

function normal() {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
const started = Date.now();
let served = 0;
let next = 0;
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (next < clients) {
      next++;
      if (await normal()) served++;
      // A steady trickle: about 10 clients a second in all.
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
  }),
);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
stopping = true;
for (const socket of held) socket.destroy();
child.kill('SIGTERM');
await new Promise((resolve) => child.once('exit', resolve));
const timeouts = (log.match(/Send timeout: /g) ?? []).length;
console.log(
  `-w ${values.workers}, send-timeout ${values['send-timeout'] ?? 'default'}, ${holders} holders, ${idleCount} idle` +
    `${values.reconnect ? ', attackers reconnect' : ''}: ` +
    `${served}/${clients} normal clients served in ${seconds}s; ${timeouts} send-timeout log line(s)`,
);
