import { testWorker } from '@kelpie/worker-testkit/vitest';

// The conformance suite: real kelpie processes (the `kelpie` devDependency) run this package's
// build and check boot, workers, app shapes, timeouts, stops, max-requests, respawn and errors.
testWorker({ worker: new URL('../dist/index.js', import.meta.url) });
