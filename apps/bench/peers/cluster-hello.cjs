// The reference: a plain node:cluster server with the same hello handler.
// NODE_CLUSTER_SCHED_POLICY=rr|none picks the scheduling, WORKERS the count, PORT the port.
const cluster = require('node:cluster');
const http = require('node:http');

const workers = Number(process.env.WORKERS ?? 2);
if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let ready = 0;
  cluster.on('listening', () => {
    if (++ready === workers) console.log('ready');
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.kill();
    process.exit(0);
  });
} else {
  http
    .createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Hello, World!\n');
    })
    .listen(Number(process.env.PORT), '127.0.0.1');
}
