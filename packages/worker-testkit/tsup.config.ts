import { preset } from '@kelpie/tsup-config';

export default preset({ entry: ['src/index.ts', 'src/vitest.ts', 'src/node-test.ts'] });
