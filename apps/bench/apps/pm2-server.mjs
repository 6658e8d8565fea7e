// The script each PM2 cluster-mode instance runs: PM2's daemon is the cluster primary, this is
// one worker serving BENCH_APP on PORT (see serve-app.mjs). PM2 counts an instance online once
// forked, so each one says when it actually listens; the peer counts these lines in the log.
import { appFromEnv, serveApp } from './serve-app.mjs';

const { kind, port } = appFromEnv();
await serveApp(kind, port);
console.log(`listening: instance ${process.pid}`);
