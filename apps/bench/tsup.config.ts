import { preset } from '@kelpie/tsup-config';

// ws-load.ts runs as its own process, so the load generator never shares the harness's event loop.
export default preset({ entry: ['src/cli.ts', 'src/ws-load.ts'] });
