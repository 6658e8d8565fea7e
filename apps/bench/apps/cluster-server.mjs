// The node:cluster reference: a primary forks WORKERS workers, each serving BENCH_APP on PORT
// (see serve-app.mjs), over TLS when the peer sets BENCH_TLS_CERT. Node reads
// NODE_CLUSTER_SCHED_POLICY (rr or none) when node:cluster loads, so the peer picks the policy
// through the environment. Prints one "ready" line once every worker listens; SIGTERM stops the
// workers, then the primary. With BENCH_APP_MAIN (an app that calls its own listen(), such as
// listen/server.js), each worker runs that file as its main module, unchanged, as `node file`
// would, with BENCH_PRELOAD (listen/loopback.cjs) required first; its listen() goes through
// cluster's shared handle.
import cluster from 'node:cluster';
import { appFromEnv, serveApp } from './serve-app.mjs';

const { kind, port, tls } = appFromEnv();

if (cluster.isPrimary) {
  const workers = Number(process.env.WORKERS ?? 1);
  if (!Number.isInteger(workers) || workers < 1) {
    throw new Error(`WORKERS must be a positive integer, got ${process.env.WORKERS}`);
  }
  const policy = cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none';
  let listening = 0;
  let exited = 0;
  let stopping = false;
  let exitCode = 0;

  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };

  const over = tls ? (tls.protocols === 'h2,h1' ? ', over TLS with h2,h1' : ', over TLS') : '';
  cluster.on('listening', () => {
    if (++listening === workers) console.log(`ready: ${workers} worker(s), ${kind} app${over}, scheduling ${policy}`);
  });
  // A worker dying under load would skew the numbers: stop everything rather than refork.
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) console.error(`worker ${worker.process.pid} exited (${signal ?? code}); stopping`);
    stop(1);
    if (++exited === workers) process.exit(exitCode);
  });
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));

  const { BENCH_APP_MAIN: main, BENCH_PRELOAD: preload } = process.env;
  if (main) {
    cluster.setupPrimary({ exec: main, execArgv: [...process.execArgv, ...(preload ? ['--require', preload] : [])] });
  }
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  serveApp(kind, port, tls).catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
