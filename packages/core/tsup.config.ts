import { preset } from '@kelpie/tsup-config';

// worker-main is the script the arbiter spawns for every worker process.
export default preset({ entry: { index: 'src/index.ts', 'worker-main': 'src/worker/main.ts' } });
