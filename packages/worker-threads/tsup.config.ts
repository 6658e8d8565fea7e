import { preset } from '@kelpie/tsup-config';

// thread.ts is the entry script of every app thread, loaded by path at run time.
export default preset({ entry: ['src/index.ts', 'src/thread.ts'] });
