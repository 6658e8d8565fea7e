import { testWorker } from '@kelpie/worker-testkit/vitest';

// Every built-in worker class passes the same conformance suite third-party classes run
// (@kelpie/worker-testkit), found by name from this package as users' projects find them.
testWorker({ worker: 'async' });
testWorker({ worker: 'sync' });
testWorker({ worker: 'threads', args: ['--threads', '2'] });
testWorker({ worker: 'ws', websocket: true });
