import { preset } from '@kelpie/tsup-config';

// ws-load.ts runs as its own process and rate-load-worker.ts as a thread, so neither load generator
// shares the harness's event loop.
export default preset({ entry: ['src/cli.ts', 'src/ws-load.ts', 'src/rate-load-worker.ts'] });
