import { preset } from '@kelpie/tsup-config';

// index is the public entry, internal the subpath `@kelpie/core/internal` for kelpie's own packages
// (src/internal.ts says what belongs there); worker-main is the script the arbiter spawns for every
// worker process.
export default preset({
  entry: { index: 'src/index.ts', internal: 'src/internal.ts', 'worker-main': 'src/worker/main.ts' },
});
